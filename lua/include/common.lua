-- Shared by every script (spliced in where a script says `-- @include common`).
-- Written for both Redis's Lua 5.1 and the in-memory backend's Lua 5.3 (fengari, whose integers
-- are 32-bit): no integer arithmetic on versions or times, which stay strings.

local unpack = unpack or table.unpack

-- The field of an entry hash that holds the serialized value. Group names are never empty, so
-- every other field is a group and its value that group's version when the entry was written.
local VALUE_FIELD = ''

-- A version or generation no earlier one can equal: Redis TIME in microseconds, as a string.
local function freshVersion()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

-- A reply is a version only if it is a string: Redis gives `false` for a missing key, the
-- in-memory backend's MGET a null userdata.
local function isVersion(v)
  return type(v) == 'string'
end

-- Every script returns its arrays through this. The in-memory backend reads a returned table
-- as an array only when its keys were inserted last-first (else it returns nothing); Redis
-- reads any sequence. Copying back to front satisfies both, for any length.
local function reply(list)
  local out = {}
  for i = #list, 1, -1 do out[i] = list[i] end
  return out
end

-- Rejects a malformed argument before anything is written.
local function check(ok, message)
  if not ok then error('redis-group-cache: ' .. message) end
end

-- The group prefix must be the entry's own namespace (`<base>g:` beside `<base>e:<key>`), so
-- that the version keys a script derives stay in the namespace, its ACL pattern and its slot.
local function isGroupPrefixOf(groupPrefix, entryKey)
  if type(groupPrefix) ~= 'string' or string.sub(groupPrefix, -2) ~= 'g:' then return false end
  local base = string.sub(groupPrefix, 1, -3)
  return #base > 0 and string.sub(entryKey, 1, #base + 2) == base .. 'e:'
end

local function isCount(s)
  return type(s) == 'string' and string.match(s, '^%d+$') ~= nil
end

-- The value of a live entry, or nil. An entry is live while every group in its snapshot still
-- has the version the snapshot recorded; a stale entry is deleted on sight, so nothing stale
-- outlives the read that found it.
local function readEntry(entryKey, groupPrefix)
  local fields = redis.call('HGETALL', entryKey)
  if #fields == 0 then return nil end
  local value
  local groupKeys, snapshot = {}, {}
  for i = 1, #fields, 2 do
    if fields[i] == VALUE_FIELD then
      value = fields[i + 1]
    else
      groupKeys[#groupKeys + 1] = groupPrefix .. fields[i]
      snapshot[#snapshot + 1] = fields[i + 1]
    end
  end
  if value ~= nil and #groupKeys > 0 then
    local current = redis.call('MGET', unpack(groupKeys))
    for i = 1, #snapshot do
      if current[i] ~= snapshot[i] then
        value = nil
        break
      end
    end
  end
  if value == nil then redis.call('DEL', entryKey) end
  return value
end
