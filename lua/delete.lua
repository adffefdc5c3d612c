-- delete: remove an entry and move the key's generation, so a fill that read before this
-- delete cannot store what it computed. Sent by src/invalidation.ts.
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation
-- ARGV[1]     lease (integer, ms): how long the generation lives (as long as any token)
--
-- Returns 1 if a live entry was removed, 0 if there was none (or only a stale one).

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local lease = ARGV[1]
check(#KEYS == 2 and #ARGV == 1, 'delete takes KEYS: entry, generation; ARGV: lease')
check(isCount(lease) and tonumber(lease) > 0, 'lease must be a positive integer of ms')
local base = entryBase(entryKey, generationKey)
-- Read before any write: a generation that is not a number fails here, with nothing written.
local generation = redis.call('GET', generationKey)
check(not isVersion(generation) or isVersionText(generation), 'the generation key does not hold a generation')

local live = readEntry(entryKey, base) ~= nil
redis.call('DEL', entryKey)
if isVersion(generation) then
  redis.call('INCR', generationKey)
  redis.call('PEXPIRE', generationKey, lease)
else
  redis.call('SET', generationKey, freshVersion(), 'PX', lease)
end
return live and 1 or 0
