-- discard: delete an entry a read found stale, unless it changed since. Sharding 'key' only
-- (src/spread.ts): the read that found it stale checked its versions on their own slots, after
-- reading it, so it deletes it only if the key still holds exactly that entry (a fill may have
-- stored a new one meanwhile). Under sharding 'namespace' the read scripts delete stale entries
-- themselves (include/common.lua, readEntry).
--
-- KEYS[1]     entry
-- ARGV[1]     the entry as the read found it (string)
--
-- Returns 1 if it deleted the entry, 0 if the key held another one or none.

-- @include common

check(#KEYS == 1 and #ARGV == 1, 'discard takes KEYS: entry; ARGV: the entry as read')
local base = baseOf(KEYS[1])
check(isSpread(base) and nameOf(KEYS[1], base, 'e') ~= nil, "the key must be an entry of sharding 'key'")
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
