-- stamp: a group's half of a read miss or a set under sharding 'key' (src/spread.ts): its current
-- version, made when missing if asked, and the Redis time of its node. The client passes the
-- versions to store.lua (the entry's snapshot, checked against the fill's token) or into a miss's
-- token. A set holds each version a lease more, so that it is still there when the entry is
-- stored; once it is, a version whose TTL is shorter than the entry's is stamped again to hold
-- as long as the entry, so that versions outlive their entries (a refused fill holds a version
-- no longer than a read miss does).
--
-- KEYS[1]     a group's version
-- ARGV[1]     create: '1' makes a missing version (fresh: Redis TIME in microseconds), '0'
--             leaves it missing (a token's group whose version was lost: its fill is refused)
-- ARGV[2]     ttl (integer, ms) of a version made here, or '' for none
-- ARGV[3]     hold (integer, ms): an existing version lives at least this long from now, or ''
--             forever; a longer TTL, or none, stays. '0' leaves its TTL alone.
--
-- Returns {version or '', created, seconds, microseconds, record or '', ttl}: created 1 if this
-- call made the version; the group's record of its last soft move (see expire-groups.lua), which
-- dates when an entry of the version it moved from went stale; the version's TTL now (ms, -1
-- for none, -2 when it has no version).

-- @include common

check(#KEYS == 1 and #ARGV == 3, 'stamp takes KEYS: group version; ARGV: create, ttl, hold')
local versionKey = KEYS[1]
local create = ARGV[1]
local ttl = ARGV[2]
local hold = ARGV[3]
check(create == '0' or create == '1', "create must be '0' or '1'")
check(hold == '' or isCount(hold), 'hold must be a whole number of ms or empty')
check(ttl == '' or (isPositiveCount(ttl)), 'ttl must be a positive integer of ms or empty')
local base = baseOf(versionKey)
local name = nameOf(versionKey, base, 'g')
check(isSpread(base) and name ~= nil, "the key must be a group version of sharding 'key'")

local version = redis.call('GET', versionKey)
local created = 0
if isVersion(version) then
  check(isVersionText(version), 'the group key does not hold a version')
  if hold ~= '0' then lengthen(versionKey, hold) end
elseif create == '1' then
  version = freshVersion()
  created = 1
  setFor(versionKey, version, ttl)
else
  version = ''
end
local t = redis.call('TIME')
local record = redis.call('GET', keyOf(base, 'p', name))
return reply({version, created, t[1], t[2], type(record) == 'string' and record or '', redis.call('PTTL', versionKey)})
