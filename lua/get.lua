-- get: the live entries of one or more keys, in one atomic read. Clients read a key whose groups
-- they know with a plain MGET; this script serves the first read, and any read the MGET cannot
-- settle (an entry with other groups than expected, a stale entry to delete). Sent by
-- src/reads.ts.
--
-- KEYS[1..n]  entry of each requested key, all of one namespace
--
-- Returns, for each key, its live entry as stored (snapshot, group names, value: see
-- include/common.lua) or nil (false) for a missing or stale one: for one key that entry itself,
-- for several an array of n items. Stale entries found are deleted.

-- @include common

check(#KEYS >= 1 and #ARGV == 0, 'get takes KEYS: entries...; no ARGV')
local base = baseOf(KEYS[1])
for i = 1, #KEYS do check(nameOf(KEYS[i], base, 'e') ~= nil, 'every key must be an entry of one namespace') end

if #KEYS == 1 then return readEntry(KEYS[1], base) or false end

local entries = {}
for i = 1, #KEYS do
  entries[i] = readEntry(KEYS[i], base) or false
end
return reply(entries)
