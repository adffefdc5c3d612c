-- delete: remove an entry and move the key's generation, so a fill that read before this
-- delete cannot store what it computed.
--
-- KEYS[1]     entry hash
-- KEYS[2]     the key's generation
-- ARGV[1]     group version key prefix (string), to tell a live entry from a stale one
-- ARGV[2]     lease (integer, ms): how long the generation lives (as long as any token)
--
-- Returns 1 if a live entry was removed, 0 if there was none (or only a stale one).

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local groupPrefix = ARGV[1]
local lease = ARGV[2]
check(#KEYS == 2 and #ARGV == 2, 'delete takes KEYS: entry, generation; ARGV: groupPrefix, lease')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')
check(isGroupPrefixOf(groupPrefix, entryKey), 'groupPrefix must be the entry\'s namespace')

local live = readEntry(entryKey, groupPrefix) ~= nil
redis.call('DEL', entryKey)
if redis.call('EXISTS', generationKey) == 1 then
  redis.call('INCR', generationKey)
  redis.call('PEXPIRE', generationKey, lease)
else
  redis.call('SET', generationKey, freshVersion(), 'PX', lease)
end
return live and 1 or 0
