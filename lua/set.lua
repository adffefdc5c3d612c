-- set: store a value with a snapshot of its groups' versions (one string: see
-- include/common.lua); with a fill token, only if nothing the token saw has moved since
-- (compare-and-set). Sent by src/writes.ts, for `set` and for the fills of src/fills.ts.
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation
-- KEYS[3..]   version key of each group, n = #KEYS - 2 groups (the entry records their names)
-- ARGV[1]     serialized value (string)
-- ARGV[2]     entry TTL (integer, ms), or '' for none
-- ARGV[3]     lease (integer, ms): a token older than this is refused
-- ARGV[4]     token: '<seconds>,<microseconds>,<generation>' of the read (Redis time, and the
--             key's generation then), or '' for a set without a token
-- ARGV[5..4+n]  token: each group's version at the read, in the order of KEYS[3..] (absent
--             without a token)
--
-- Returns 1 when stored (or when this set already stored and its entry is still live: the entry
-- is exactly what it would store). A token set that stores nothing returns:
--   0  the key already has an entry (someone stored since the read; never overwrite it)
--  -1  the token is as old as the lease or older (the generation it saw may be gone)
--  -2  the key was deleted or set without a token since the read (or its generation was lost)
--  -3  a group was expired (or its version lost) since the read
-- A group with no version gets a fresh one; each version's TTL is extended to cover the
-- entry's (an entry without TTL makes its versions persistent).

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local value = ARGV[1]
local ttl = ARGV[2]
local lease = ARGV[3]
local token = ARGV[4]
local groupCount = #KEYS - 2
local hasToken = token ~= nil and token ~= ''

check(#KEYS >= 2, 'set takes KEYS: entry, generation, groups...')
check(#ARGV == 4 + (hasToken and groupCount or 0), 'set takes ARGV: value, ttl, lease, token, token versions')
check(ttl == '' or (isCount(ttl) and tonumber(ttl) > 0), 'ttl must be a positive integer of ms or empty')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')
local tokenSeconds, tokenMicros, tokenGeneration
if hasToken then
  tokenSeconds, tokenMicros, tokenGeneration = string.match(token, '^(%d+),(%d+),(%d+)$')
  check(tokenGeneration ~= nil, 'a token is <seconds>,<microseconds>,<generation>')
  for i = 1, groupCount do check(isVersionText(ARGV[4 + i]), 'token versions must be versions') end
end
local base = entryBase(entryKey, generationKey)
local groupHead = base .. 'g:'
local names = {}
for i = 1, groupCount do
  check(isUnder(KEYS[2 + i], groupHead), 'keys after the generation must be group versions')
  names[i] = string.sub(KEYS[2 + i], #groupHead + 1)
end

-- Each group's current version: the token must match them, the snapshot records them.
local versions = groupCount > 0 and redis.call('MGET', unpack(KEYS, 3)) or {}

if hasToken then
  if redis.call('EXISTS', entryKey) == 1 then
    -- This very set, run again (a client resends what was in flight when its connection
    -- dropped): the entry is what it stored with the token's versions. Say so, while nothing the
    -- token saw has moved: another fill of the same value from the same read, or a plain set of
    -- it since, makes the same entry, and once a group or the generation moved that entry holds
    -- nothing this set may claim.
    if redis.call('GET', generationKey) ~= tokenGeneration then return 0 end
    local tokenVersions = {unpack(ARGV, 5, 4 + groupCount)}
    for i = 1, groupCount do
      if versions[i] ~= tokenVersions[i] then return 0 end
    end
    if redis.call('GET', entryKey) == encodeEntry(tokenVersions, names, value) then return 1 end
    return 0
  end
  local t = redis.call('TIME')
  local ageMs = (tonumber(t[1]) - tonumber(tokenSeconds)) * 1000 + (tonumber(t[2]) - tonumber(tokenMicros)) / 1000
  if ageMs >= tonumber(lease) then return -1 end
  if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end
  for i = 1, groupCount do
    if versions[i] ~= ARGV[4 + i] then return -3 end
  end
else
  -- A write moves the key's generation (when a miss created one), so a fill that read before
  -- it is refused even after this entry is gone again (TTL, eviction, an invalidation).
  local generation = redis.call('GET', generationKey)
  if isVersion(generation) then
    check(isVersionText(generation), 'the generation key does not hold a generation')
    redis.call('INCR', generationKey)
  end
end

local created = {}
for i = 1, groupCount do
  if not isVersion(versions[i]) then
    versions[i] = freshVersion()
    created[i] = true
  end
end
local entry = encodeEntry(versions, names, value)
if ttl == '' then
  redis.call('SET', entryKey, entry)
else
  redis.call('SET', entryKey, entry, 'PX', ttl)
end

-- Versions must outlive the entry. Their TTLs are set after the entry's so that they also
-- do on a backend whose clock moves during a script (the in-memory one).
for i = 1, groupCount do
  local versionKey = KEYS[2 + i]
  if created[i] then
    if ttl == '' then
      redis.call('SET', versionKey, versions[i])
    else
      redis.call('SET', versionKey, versions[i], 'PX', ttl)
    end
  elseif ttl == '' then
    redis.call('PERSIST', versionKey)
  else
    -- Only ever lengthen: a longer TTL, or none at all, stays. (Not PEXPIRE GT, which the
    -- in-memory backend ignores.)
    local remaining = redis.call('PTTL', versionKey)
    if remaining >= 0 and remaining < tonumber(ttl) then redis.call('PEXPIRE', versionKey, ttl) end
  end
end
return 1
