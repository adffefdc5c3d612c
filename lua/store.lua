-- store: the key's half of a set under sharding 'key' (src/spread.ts). The groups' versions live
-- on their own slots: the client read them with stamp.lua first and passes them here, with the
-- Redis time of each group's node at that moment. This stores the value with them as its snapshot;
-- with a fill token, only if nothing the token saw has moved (compare-and-set, as set.lua), and
-- then the token's fill lease is released.
--
-- Why a version that moves after its stamp does no harm: the entry records the version stamped,
-- so a move in between makes the new entry stale at its first read, never wrongly fresh. Versions
-- never repeat and only move forward, so no later read can find the old version current again.
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation
-- KEYS[3]     the key's fill lease
-- ARGV[1]     serialized value (string)
-- ARGV[2]     entry TTL (integer, ms), or '' for none
-- ARGV[3]     lease (integer, ms): a token older than this is refused
-- ARGV[4]     grace (integer, ms): how long after it stops being live the entry may still be
--             served stale (0: never; the entry then has no header)
-- ARGV[5]     token: '<seconds>,<microseconds>,<generation>[,<owner>]' of the read, as set.lua
--             takes it, or '' for a set without a token
-- ARGV[6]     n: the number of groups
-- ARGV[7]     m: how many of them the token's read named (0 without a token); groups m+1..n are
--             late (named after the fill's function ran)
-- ARGV[8..7+n]         each group's name
-- ARGV[8+n..7+2n]      each group's version as stamped, or '' where it had none
-- ARGV[8+2n..7+3n]     the Redis time of each group's node at its stamp: '<seconds>,<microseconds>'
-- ARGV[8+3n..7+3n+m]   the token's version of each of the first m groups
-- ARGV[8+3n+m]         µs (a whole number) the process that sets measured from the token's
--                      arrival to having every stamp's reply, or '' (a token from elsewhere)
--
-- Returns what set.lua returns: 1 stored, 0 a live entry of these groups is there, -1 the token
-- is as old as the lease, -2 the key was deleted or set since the read, -3 a group moved (or lost
-- its version) since the read, -4 a late group had no version (stamp.lua made one). A late group
-- must not have moved since the fill began: what it stores was computed after its read. Its
-- version is a time of its own node's clock, and the read's time is of this node's: they are not
-- compared with each other. How long before the stamp the fill began is bounded twice, and the
-- lesser bound is used: by this node (its time now minus the token's: the read ran before the fill
-- and the stamp before this script) and, for a token of the process that sets, by that process's
-- own clock (from the token's arrival, before the fill began, to the stamps' replies, after they
-- ran). The group's node's time at the stamp minus that bound is no later than that node's time
-- when the fill began: a version below it was made before. A version made less than about a
-- round trip before the token arrived may still be refused: the next fill stores.

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local leaseKey = KEYS[3]
local value = ARGV[1]
local ttl = ARGV[2]
local lease = ARGV[3]
local grace = ARGV[4]
local token = ARGV[5]
local n = tonumber(ARGV[6])
local m = tonumber(ARGV[7])
check(#KEYS == 3, 'store takes KEYS: entry, generation, lease')
check(isDigits(ARGV[6], 4) and isDigits(ARGV[7], 4) and m <= n and #ARGV == 8 + 3 * n + m,
  'store takes ARGV: value, ttl, lease, grace, token, n, m, n names, n versions, n times, m token versions, elapsed')
local elapsed = ARGV[#ARGV]
check(elapsed == '' or isCount(elapsed), 'elapsed must be a whole number of microseconds or empty')
local hasToken = token ~= ''
check(hasToken or m == 0, 'a set without a token names no token groups')
check(ttl == '' or (isPositiveCount(ttl)), 'ttl must be a positive integer of ms or empty')
check(isPositiveCount(lease), 'lease must be a positive integer of ms')
check(isCount(grace), 'grace must be a whole number of ms')
local base, name = entryBase(entryKey, generationKey)
check(isSpread(base), "store is for sharding 'key'")
checkLease(leaseKey, name, base)
local names, versions, stamped = {}, {}, {}
for i = 1, n do
  names[i] = ARGV[7 + i]
  versions[i] = ARGV[7 + n + i]
  check(type(names[i]) == 'string' and #names[i] > 0, 'group names must be non-empty')
  check(versions[i] == '' or isVersionText(versions[i]), 'versions must be versions or empty')
  local s, us = string.match(ARGV[7 + 2 * n + i], '^(%d+),(%d+)$')
  check(s ~= nil, 'stamp times are <seconds>,<microseconds>')
  stamped[i] = tonumber(s) + tonumber(us) / 1000000
end
local tokenSeconds, tokenMicros, tokenGeneration, tokenOwner
if hasToken then
  tokenSeconds, tokenMicros, tokenGeneration, tokenOwner = string.match(token, '^(%d+),(%d+),(%d+),?(.*)$')
  check(tokenGeneration ~= nil, 'a token is <seconds>,<microseconds>,<generation>[,<owner>]')
  for i = 1, m do check(isVersionText(ARGV[7 + 3 * n + i]), 'token versions must be versions') end
else
  for i = 1, n do check(versions[i] ~= '', 'a set without a token stamps every version') end
end

-- A version (a decimal string of microseconds) in seconds, as a float.
local function seconds(version)
  if #version <= 6 then return tonumber(version) / 1000000 end
  return tonumber(string.sub(version, 1, -7)) + tonumber(string.sub(version, -6)) / 1000000
end

-- The fill lease goes with the token that took it, whatever this set answers.
if hasToken and tokenOwner ~= '' and redis.call('GET', leaseKey) == tokenOwner then redis.call('DEL', leaseKey) end

local graceMs = tonumber(grace)
local t = now()
local header, keep = graceHeader(ttl, grace, t)

if hasToken then
  -- A live entry of this fill's groups blocks a token set (as in set.lua): live by the versions
  -- stamped, each of its groups one of this set's (one of other groups is replaced).
  local stored = redis.call('GET', entryKey)
  if type(stored) == 'string' then
    local storedGrace, fresh, body = splitHeader(stored)
    local snapshot, held
    if storedGrace ~= nil then snapshot, held = decodeEntry(body) end
    local live = snapshot ~= nil and (fresh == nil or t < fresh)
    if live then
      local current = {}
      for i = 1, n do current[names[i]] = versions[i] end
      for i = 1, #held do
        if current[held[i]] == nil or current[held[i]] ~= snapshot[i] then
          live = false
          break
        end
      end
    end
    if live and covers(held, names) then
      -- This very set, run again? As set.lua.
      local expected = {}
      for i = 1, m do expected[i] = ARGV[7 + 3 * n + i] end
      for i = m + 1, n do expected[i] = versions[i] end
      return resentSet(entryKey, generationKey, tokenGeneration, expected, names, value, graceMs)
    end
  end
  local ageMs = (t - tonumber(tokenSeconds) - tonumber(tokenMicros) / 1000000) * 1000
  if ageMs >= tonumber(lease) then return -1 end
  if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end
  for i = 1, m do
    if versions[i] ~= ARGV[7 + 3 * n + i] then return -3 end
  end
  local since = ageMs / 1000
  if elapsed ~= '' then since = math.min(since, tonumber(elapsed) / 1000000) end
  local refused
  for i = m + 1, n do
    if versions[i] == '' then
      refused = refused or -4
    elseif seconds(versions[i]) >= stamped[i] - since - 0.000002 then
      -- (2 microseconds of margin: the floats hold about a quarter of one at today's times)
      refused = -3
    end
  end
  if refused then return refused end
else
  moveGeneration(generationKey)
end

writeEntry(entryKey, header, versions, names, value, keep)
return 1
