-- read: the live value of an entry, or on a miss a fill token for a later `set`.
--
-- KEYS[1]     entry hash
-- KEYS[2]     tombstone of the key (its generation; written by delete)
-- KEYS[3..]   version key of each group the caller will store the value under
-- ARGV[1]     group version key prefix (string), to check the entry's own snapshot
-- ARGV[2]     lease (integer, ms): how long a group version created here lives unless a set extends it
--
-- Returns {1, value} on a hit, or {0, seconds, microseconds, generation, version...} on a miss:
-- the Redis time of the read, the key's generation ('' if it has none) and the current
-- version of each group of KEYS[3..], in that order. A group with no version gets a fresh one,
-- so the token can tell a later invalidation apart from an eviction.

-- @include common

local entryKey = KEYS[1]
local tombstoneKey = KEYS[2]
local groupPrefix = ARGV[1]
local lease = ARGV[2]
check(#KEYS >= 2 and #ARGV == 2, 'read takes KEYS: entry, tombstone, groups...; ARGV: groupPrefix, lease')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')

local value = readEntry(entryKey, groupPrefix)
if value ~= nil then return {1, value} end

local t = redis.call('TIME')
local generation = redis.call('GET', tombstoneKey)
local token = {0, t[1], t[2], isVersion(generation) and generation or ''}
for i = 3, #KEYS do
  local version = redis.call('GET', KEYS[i])
  if not isVersion(version) then
    version = freshVersion()
    redis.call('SET', KEYS[i], version, 'PX', lease)
  end
  token[#token + 1] = version
end
return reply(token)
