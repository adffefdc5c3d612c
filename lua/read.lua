-- read: the live value of an entry, or on a miss a fill token for a later `set`. Sent by
-- src/reads.ts for `read`, `wrap` and `cached` (src/fills.ts).
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation (moved by delete; created here when missing)
-- KEYS[3..]   version key of each group the caller will store the value under
-- ARGV[1]     lease (integer, ms): how long a group version created here lives unless a set extends it
--
-- Returns {1, entry} on a hit (the live entry as stored: see include/common.lua), or
-- {0, seconds, microseconds, generation, version...} on a miss: the Redis time of the read, the
-- key's generation and the current version of each group of KEYS[3..], in that order. A missing
-- generation or group version gets a fresh one (with the lease as TTL), so the token can tell a
-- later delete or invalidation from a lost key: were a missing generation read as '', a delete
-- whose generation is then evicted would read as 'never deleted' and let a fill from before it
-- be stored.

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local lease = ARGV[1]
check(#KEYS >= 2 and #ARGV == 1, 'read takes KEYS: entry, generation, groups...; ARGV: lease')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')
local base = entryBase(entryKey, generationKey)
local groupHead = base .. 'g:'
for i = 3, #KEYS do check(isUnder(KEYS[i], groupHead), 'keys after the generation must be group versions') end

local entry = readEntry(entryKey, base)
if entry ~= nil then return {1, entry} end

local t = redis.call('TIME')
local generation = redis.call('GET', generationKey)
if isVersion(generation) then
  -- it must outlive every token that saw it
  redis.call('PEXPIRE', generationKey, lease)
else
  generation = freshVersion()
  redis.call('SET', generationKey, generation, 'PX', lease)
end
local token = {0, t[1], t[2], generation}
for i = 3, #KEYS do
  local version = redis.call('GET', KEYS[i])
  if not isVersion(version) then
    version = freshVersion()
    redis.call('SET', KEYS[i], version, 'PX', lease)
  end
  token[#token + 1] = version
end
return reply(token)
