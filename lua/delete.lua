-- delete: remove entries and move their keys' generations, so a fill that read before this
-- delete cannot store what it computed. Sent by src/invalidation.ts, for `delete` and
-- `deleteMany`.
--
-- KEYS[2i-1]  entry of the i-th key, all of one namespace
-- KEYS[2i]    that key's generation
-- ARGV[1]     lease (integer, ms): how long a generation lives (as long as any token)
--
-- Returns the number of live entries removed (for one key: 1 or 0; a stale entry does not count).
-- Under sharding 'key' an entry's groups live on other slots, so this cannot tell: it takes one
-- key (an entry and its generation) and returns {entry, seconds, microseconds}, the entry it
-- removed as stored ('' for none) and the Redis time, and the client tells whether it was live
-- (src/spread.ts).

-- @include common

check(#KEYS >= 2 and #KEYS % 2 == 0 and #ARGV == 1, 'delete takes KEYS: entry, generation, ...; ARGV: lease')
local lease = ARGV[1]
check(isPositiveCount(lease), 'lease must be a positive integer of ms')
local base = baseOf(KEYS[1])
local spread = isSpread(base)
check(not spread or #KEYS == 2, "delete takes one key under sharding 'key'")
-- Every key and generation is checked, and read, before the first write: nothing is half done.
local generations = {}
for i = 1, #KEYS, 2 do
  check(entryBase(KEYS[i], KEYS[i + 1]) == base, 'every key must be of one namespace')
  local generation = redis.call('GET', KEYS[i + 1])
  check(not isVersion(generation) or isVersionText(generation), 'the generation key does not hold a generation')
  generations[i] = generation
end

local removed = 0
local entry = ''
for i = 1, #KEYS, 2 do
  if spread then
    entry = redis.call('GET', KEYS[i])
    if type(entry) ~= 'string' then entry = '' end
  elseif readEntry(KEYS[i], base) ~= nil then
    removed = removed + 1
  end
  redis.call('DEL', KEYS[i])
  if isVersion(generations[i]) then
    redis.call('INCR', KEYS[i + 1])
    redis.call('PEXPIRE', KEYS[i + 1], lease)
  else
    redis.call('SET', KEYS[i + 1], freshVersion(), 'PX', lease)
  end
end
if spread then
  local t = redis.call('TIME')
  return reply({entry, t[1], t[2]})
end
return removed
