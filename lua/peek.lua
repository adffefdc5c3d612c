-- peek: an entry as stored, and the Redis time of its node, read together. Sharding 'key' only
-- (src/spread.ts): the entry's groups live on other slots, so the client reads their versions
-- itself and checks the entry against them; the time tells whether a TTL's end in the entry's
-- header (include/common.lua) has passed, by the clock that wrote it.
--
-- KEYS[1]     entry
--
-- Returns {entry or '', seconds, microseconds}: '' when the key holds no entry.

-- @include common

check(#KEYS == 1 and #ARGV == 0, 'peek takes KEYS: entry; no ARGV')
local base = baseOf(KEYS[1])
check(isSpread(base) and nameOf(KEYS[1], base, 'e') ~= nil, "the key must be an entry of sharding 'key'")
local entry = redis.call('GET', KEYS[1])
local t = redis.call('TIME')
return reply({type(entry) == 'string' and entry or '', t[1], t[2]})
