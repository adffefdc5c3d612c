-- expire-groups: invalidate every value of each group at once by moving its version.
--
-- KEYS[1..n]  version key of each group
--
-- Returns the number of groups whose version was moved. A group with no version is left
-- without one: a missing version already makes every snapshot of it stale, and the next
-- writer creates a fresh one that no snapshot can hold.

if #ARGV ~= 0 then error('redis-group-cache: expire-groups takes no ARGV') end

local moved = 0
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCR', KEYS[i])
    moved = moved + 1
  end
end
return moved
