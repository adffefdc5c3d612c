-- expire-groups: invalidate every value of each group at once by moving its version. Sent by
-- src/invalidation.ts.
--
-- KEYS[1..n]  version key of each group, all of one namespace
--
-- Returns the number of groups whose version was moved. A group with no version is left
-- without one: a missing version already makes every snapshot of it stale, and the next
-- writer creates a fresh one that no snapshot can hold.

-- @include common

check(#KEYS >= 1 and #ARGV == 0, 'expire-groups takes KEYS: group versions...; no ARGV')
local base = baseOf(KEYS[1])
-- Every key is checked, and read, before the first is moved: nothing is half done.
local groupHead = base .. 'g:'
local versions = {}
for i = 1, #KEYS do
  check(isUnder(KEYS[i], groupHead), 'every key must be a group version of one namespace')
  versions[i] = redis.call('GET', KEYS[i])
  check(not isVersion(versions[i]) or isVersionText(versions[i]), 'a group key does not hold a version')
end

local moved = 0
for i = 1, #KEYS do
  if isVersion(versions[i]) then
    redis.call('INCR', KEYS[i])
    moved = moved + 1
  end
end
return moved
