-- set: store a value with a snapshot of its groups' versions (one string: see include/common.lua); with a fill token, only if
-- nothing the token saw has moved since (compare-and-set).
--
-- KEYS[1]     entry hash
-- KEYS[2]     the key's generation
-- KEYS[3..]   version key of each group, n = #KEYS - 2 groups
-- ARGV[1]     serialized value (string)
-- ARGV[2]     entry TTL (integer, ms), or '' for none
-- ARGV[3]     lease (integer, ms): a token older than this is refused
-- ARGV[4]     token: Redis time of the read, seconds ('' for a set without a token)
-- ARGV[5]     token: microseconds of that time
-- ARGV[6]     token: the key's generation at the read ('' without a token)
-- ARGV[7..6+n]     group names, in the order of KEYS[3..]
-- ARGV[7+n..6+2n]  token: each group's version at the read (absent without a token)
--
-- Returns 1 when stored. A token set that stores nothing returns:
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
local tokenSeconds = ARGV[4]
local tokenMicros = ARGV[5]
local tokenGeneration = ARGV[6]
local groupCount = #KEYS - 2
local hasToken = tokenSeconds ~= ''

check(#KEYS >= 2, 'set takes KEYS: entry, generation, groups...')
check(#ARGV == 6 + groupCount * (hasToken and 2 or 1), 'set takes ARGV: value, ttl, lease, token time (2), generation, group names, token versions')
check(ttl == '' or (isCount(ttl) and tonumber(ttl) > 0), 'ttl must be a positive integer of ms or empty')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')
check(
  hasToken and (isCount(tokenSeconds) and isCount(tokenMicros) and tokenGeneration ~= '')
    or (tokenMicros == '' and tokenGeneration == ''),
  'a token needs its time (2) and generation; a set without one leaves all three empty'
)
for i = 1, groupCount do check(ARGV[6 + i] ~= '', 'group names must not be empty') end

-- Each group's current version: the token must match them, the snapshot records them.
local versions = groupCount > 0 and redis.call('MGET', unpack(KEYS, 3)) or {}

if hasToken then
  local t = redis.call('TIME')
  local ageMs = (tonumber(t[1]) - tonumber(tokenSeconds)) * 1000 + (tonumber(t[2]) - tonumber(tokenMicros)) / 1000
  if ageMs >= tonumber(lease) then return -1 end
  if redis.call('EXISTS', entryKey) == 1 then return 0 end
  if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end
  for i = 1, groupCount do
    if versions[i] ~= ARGV[6 + groupCount + i] then return -3 end
  end
else
  -- A write moves the key's generation (when a miss created one), so a fill that read before
  -- it is refused even after this entry is gone again (TTL, eviction, an invalidation).
  if redis.call('EXISTS', generationKey) == 1 then redis.call('INCR', generationKey) end
end

local created = {}
for i = 1, groupCount do
  if not isVersion(versions[i]) then
    versions[i] = freshVersion()
    created[i] = true
  end
end
local entry = encodeEntry(versions, {unpack(ARGV, 7, 6 + groupCount)}, value)
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
