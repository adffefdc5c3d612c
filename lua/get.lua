-- get: the live values of one or more entries, in one atomic read.
--
-- KEYS[1..n]  entry hash of each requested key
-- ARGV[1]     group version key prefix (string, `<prefix>:{ns}:g:`), to find each entry's groups
--
-- Returns, for each key, the serialized value of a live entry, or nil (false) for a missing or
-- stale one: for one key that value itself, for several an array of n items. (A lone value
-- saves the reply table: about a fifth of the script's time in Redis.) Stale entries found
-- are deleted.

-- @include common

local groupPrefix = ARGV[1]
check(#KEYS >= 1 and #ARGV == 1, 'get takes KEYS: entries...; ARGV: groupPrefix')
for i = 1, #KEYS do check(isGroupPrefixOf(groupPrefix, KEYS[i]), 'groupPrefix must be the entries\' namespace') end

if #KEYS == 1 then return readEntry(KEYS[1], groupPrefix) or false end

local values = {}
for i = 1, #KEYS do
  values[i] = readEntry(KEYS[i], groupPrefix) or false
end
return reply(values)
