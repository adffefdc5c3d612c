-- get: the live entries of one or more keys, in one atomic read. Clients read a key whose groups
-- they know with a plain MGET; this script serves the first read, and any read the MGET cannot
-- settle (an entry with other groups than expected, a stale entry to delete).
--
-- KEYS[1..n]  entry of each requested key
-- ARGV[1]     group version key prefix (string, `<prefix>:{ns}:g:`), to find each entry's groups
--
-- Returns, for each key, its live entry as stored (snapshot, group names, value: see
-- include/common.lua) or nil (false) for a missing or stale one: for one key that entry itself,
-- for several an array of n items. Stale entries found are deleted.

-- @include common

local groupPrefix = ARGV[1]
check(#KEYS >= 1 and #ARGV == 1, 'get takes KEYS: entries...; ARGV: groupPrefix')
for i = 1, #KEYS do check(isGroupPrefixOf(groupPrefix, KEYS[i]), 'groupPrefix must be the entries\' namespace') end

if #KEYS == 1 then return readEntry(KEYS[1], groupPrefix) or false end

local entries = {}
for i = 1, #KEYS do
  entries[i] = readEntry(KEYS[i], groupPrefix) or false
end
return reply(entries)
