-- release: give up a key's fill lease, if this owner still holds it. Sent by src/fills.ts when a
-- fill's function throws (the waiters take over at once), and after a failed refresh within
-- grace (the lease is then kept a while, so that a failing source is not called by every reader).
--
-- KEYS[1]     the key's fill lease
-- ARGV[1]     owner (string): the value the read that took the lease wrote
-- ARGV[2]     hold (integer, ms): 0 releases now; more keeps the lease that long from now
--
-- Returns 1 if this owner held the lease, 0 if not (it expired, or another holds it).

-- @include common

check(#KEYS == 1 and #ARGV == 2, 'release takes KEYS: lease; ARGV: owner, hold')
local leaseKey = KEYS[1]
local owner = ARGV[1]
local hold = ARGV[2]
local base = baseOf(leaseKey)
check(nameOf(leaseKey, base, 'l') ~= nil, 'the key must be a fill lease')
check(type(owner) == 'string' and #owner > 0, 'owner must be a non-empty string')
check(isCount(hold), 'hold must be a whole number of ms')
if redis.call('GET', leaseKey) ~= owner then return 0 end
if hold == '0' then
  redis.call('DEL', leaseKey)
else
  redis.call('SET', leaseKey, owner, 'PX', hold)
end
return 1
