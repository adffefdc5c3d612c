-- set: store a value with a snapshot of its groups' versions (one string: see
-- include/common.lua); with a fill token, only if nothing the token saw has moved since
-- (compare-and-set), and then the token's fill lease is released. Sent by src/writes.ts, for
-- `set` and for the fills of src/fills.ts.
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation
-- KEYS[3]     the key's fill lease
-- KEYS[4..]   version key of each group, n = #KEYS - 3 groups (the entry records their names)
-- ARGV[1]     serialized value (string)
-- ARGV[2]     entry TTL (integer, ms), or '' for none
-- ARGV[3]     lease (integer, ms): a token older than this is refused
-- ARGV[4]     grace (integer, ms): how long after it stops being live the entry may still be
--             served stale (0: never; the entry then has no header)
-- ARGV[5]     token: '<seconds>,<microseconds>,<generation>[,<owner>]' of the read (Redis time,
--             the key's generation then, and the fill lease's owner if that read took it), or ''
--             for a set without a token
-- ARGV[6..5+m]  token: the version at the read of each of the first m groups, the ones the read
--             named (absent without a token). Groups m+1..n are late: the fill named them after
--             its function ran, so the read knew none of their versions.
--
-- Returns 1 when stored (or when this set already stored and its entry is still live: the entry
-- is exactly what it would store). A token set that stores nothing returns:
--   0  the key already has a live entry of these groups (someone stored since the read; never
--      overwrite it)
--  -1  the token is as old as the lease or older (the generation it saw may be gone)
--  -2  the key was deleted or set without a token since the read (or its generation was lost)
--  -3  a group was expired (or its version lost) since the read; for a late group: its version
--      is later than the read's time (versions are times: expire-groups.lua), so it moved or was
--      created since the read began
--  -4  a late group has no version: it is new, or its version was lost (evicted, flushed), and an
--      invalidation of it during this fill could not be told from none. A version is made now,
--      so that the next fill naming the group stores.
-- Either way a token's fill lease, if its owner still holds it, is released: the waiters read
-- the value, or one of them takes the lease and fills. A plain set's group with no version gets a
-- fresh one; each version's TTL is extended to cover the entry's (an entry without TTL makes its
-- versions persistent).

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local leaseKey = KEYS[3]
local value = ARGV[1]
local ttl = ARGV[2]
local lease = ARGV[3]
local grace = ARGV[4]
local token = ARGV[5]
local groupCount = #KEYS - 3
local hasToken = token ~= nil and token ~= ''
-- the groups the read named, with their versions in the token
local tokenCount = hasToken and #ARGV - 5 or groupCount

check(#KEYS >= 3, 'set takes KEYS: entry, generation, lease, groups...')
check(#ARGV >= 5 and (hasToken or #ARGV == 5) and tokenCount <= groupCount,
  'set takes ARGV: value, ttl, lease, grace, token, token versions (at most one per group)')
check(ttl == '' or (isPositiveCount(ttl)), 'ttl must be a positive integer of ms or empty')
check(isPositiveCount(lease), 'lease must be a positive integer of ms')
check(isCount(grace), 'grace must be a whole number of ms')
local tokenSeconds, tokenMicros, tokenGeneration, tokenOwner
if hasToken then
  tokenSeconds, tokenMicros, tokenGeneration, tokenOwner = string.match(token, '^(%d+),(%d+),(%d+),?(.*)$')
  check(tokenGeneration ~= nil, 'a token is <seconds>,<microseconds>,<generation>[,<owner>]')
  for i = 1, tokenCount do check(isVersionText(ARGV[5 + i]), 'token versions must be versions') end
end
local base, name = entryBase(entryKey, generationKey)
checkLease(leaseKey, name, base)
local names = groupNames(base, 4, 'keys after the lease must be group versions')

-- The fill lease goes with the token that took it, whatever this set answers.
if hasToken and tokenOwner ~= '' and redis.call('GET', leaseKey) == tokenOwner then redis.call('DEL', leaseKey) end

-- Each group's current version: the token must match them, the snapshot records them.
local versions = groupCount > 0 and redis.call('MGET', unpack(KEYS, 4)) or {}
local graceMs = tonumber(grace)
local header, keep = graceHeader(ttl, grace, graceMs > 0 and ttl ~= '' and now() or 0)

local created = {} -- the groups whose versions this set makes
if hasToken then
  -- Only a live entry of this fill's groups blocks a token set: a stale one kept for grace, or
  -- one of other groups (which the read that made the token did not take), is what it replaces.
  local live, _, held = judgeEntry(entryKey, redis.call('GET', entryKey), base)
  if live ~= nil and covers(held, names) then
    -- This very set, run again? A live entry of the token's versions says none of them moved.
    local expected = {unpack(ARGV, 6, 5 + tokenCount)}
    -- A late group's version is the one this set stamped: the entry is live, so it is current.
    for i = tokenCount + 1, groupCount do expected[i] = versions[i] end
    return resentSet(entryKey, generationKey, tokenGeneration, expected, names, value, graceMs)
  end
  local t = redis.call('TIME')
  local ageMs = (tonumber(t[1]) - tonumber(tokenSeconds)) * 1000 + (tonumber(t[2]) - tonumber(tokenMicros)) / 1000
  if ageMs >= tonumber(lease) then return -1 end
  if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end
  for i = 1, tokenCount do
    if versions[i] ~= ARGV[5 + i] then return -3 end
  end
  -- A late group must not have moved since the read began: its version, a time, is no later than
  -- the read's. One with no version cannot be vouched for (an invalidation of a missing version
  -- moves nothing, and a version moved since the read may have been lost): nothing is stored, and
  -- a version is made, so that the next fill naming the group can be.
  if tokenCount < groupCount then
    local readAt = tokenSeconds .. string.format('%06d', tonumber(tokenMicros))
    local refused
    for i = tokenCount + 1, groupCount do
      if not isVersion(versions[i]) then
        setFor(KEYS[3 + i], freshVersion(), keep)
        refused = refused or -4
      elseif isLater(versions[i], readAt) then
        refused = -3
      end
    end
    if refused then return refused end
  end
  -- Every group has its version now: the token's are the current ones, and a late group without
  -- one refused the set.
else
  moveGeneration(generationKey)
  -- A plain set's group with no version gets a fresh one.
  for i = 1, groupCount do
    if not isVersion(versions[i]) then
      versions[i] = freshVersion()
      created[i] = true
    end
  end
end

writeEntry(entryKey, header, versions, names, value, keep)

-- Versions must outlive the entry. Their TTLs are set after the entry's so that they also
-- do on a backend whose clock moves during a script (the in-memory one).
for i = 1, groupCount do
  if created[i] then
    setFor(KEYS[3 + i], versions[i], keep)
  else
    lengthen(KEYS[3 + i], keep)
  end
end
return 1
