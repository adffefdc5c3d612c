-- expire-groups: invalidate every value of each group at once by moving its version. Sent by
-- src/invalidation.ts.
--
-- KEYS[1..n]  version key of each group, all of one namespace
-- ARGV[1]     '1' for a hard invalidation (no value it invalidates is ever served stale), '0'
--             for a soft one (a value stored with grace may be, for that grace)
--
-- Returns the number of groups whose version was moved. A group with no version is left
-- without one: a missing version already makes every snapshot of it stale, and the next
-- writer creates a fresh one that no snapshot can hold (set.lua refuses a fill that names it
-- late).
--
-- A version is also a time: it moves to max(version + 1, Redis TIME in microseconds), so a
-- version later than a read's time says its group moved (or was created) after that read began.
-- A fill that names a group only after its function ran (set.lua, "late groups") relies on that.
--
-- A soft move records, in the group's record (kind `p`, beside its version; as long-lived), the version it moved
-- from and the Redis time: a reader can tell that an entry of exactly that version went stale
-- then, and how long ago (include/common.lua, staleSince). A hard move deletes the record, so
-- no entry of the group's earlier versions can be dated, and none is served stale.

-- @include common

check(#KEYS >= 1 and #ARGV == 1, 'expire-groups takes KEYS: group versions...; ARGV: hard')
local hard = ARGV[1]
check(hard == '0' or hard == '1', "hard must be '0' or '1'")
local base = baseOf(KEYS[1])
-- Every key is checked, and read, before the first is moved: nothing is half done.
local names = groupNames(base, 1, 'every key must be a group version of one namespace')
local versions = {}
for i = 1, #KEYS do
  versions[i] = redis.call('GET', KEYS[i])
  check(not isVersion(versions[i]) or isVersionText(versions[i]), 'a group key does not hold a version')
end

local t = redis.call('TIME')
local time = t[1] .. string.format('%06d', tonumber(t[2]))
local moved = 0
for i = 1, #KEYS do
  local record = keyOf(base, 'p', names[i])
  if isVersion(versions[i]) then
    local remaining = redis.call('PTTL', KEYS[i])
    if isLater(time, versions[i]) then
      -- SET drops the TTL; it is put back as it was (not KEEPTTL, which the in-memory backend lacks).
      redis.call('SET', KEYS[i], time)
      if remaining > 0 then redis.call('PEXPIRE', KEYS[i], remaining) end
    else
      redis.call('INCR', KEYS[i])
    end
    moved = moved + 1
    if hard == '1' then
      redis.call('DEL', record)
    else
      local text = versions[i] .. ',' .. t[1] .. ',' .. t[2]
      if remaining > 0 then
        redis.call('SET', record, text, 'PX', remaining)
      else
        redis.call('SET', record, text)
      end
    end
  elseif hard == '1' then
    redis.call('DEL', record)
  end
end
return moved
