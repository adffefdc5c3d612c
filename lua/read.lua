-- read: the live value of an entry, or on a miss a fill token for a later `set` and the key's
-- fill lease when no one holds it. Sent by src/reads.ts for `read`, `wrap` and `cached`
-- (src/fills.ts).
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation (moved by delete; created here when missing)
-- KEYS[3]     the key's fill lease (who is filling it; see src/leases.ts)
-- KEYS[4..]   version key of each group the caller will store the value under
-- ARGV[1]     lease (integer, ms): how long the fill lease taken here and a group version
--             created here live
-- ARGV[2]     owner (string): the fill lease's value when this read takes it
-- ARGV[3]     grace (integer, ms): an entry stored with grace that went stale less than this ago
--             is returned as stale; 0: never
--
-- Returns {1, entry} on a hit: the live entry as stored (see include/common.lua), if it is stored
-- under every group of KEYS[4..] (it may have more). Otherwise
-- {status, entry, leased, wait, seconds, microseconds, generation, version...}:
--   status 0: a miss (entry is ''); 2: a stale entry within grace, returned as stored
--   leased 1 if this read took the fill lease (the caller fills), 0 if another holds it
--   wait   ms the other holder's lease has left (0 when leased)
-- then the token: the Redis time of the read, the key's generation and the current version of
-- each group of KEYS[4..], in that order. A missing generation or group version gets a fresh one
-- (with the lease as TTL), so the token can tell a later delete or invalidation from a lost key:
-- were a missing generation read as '', a delete whose generation is then evicted would read as
-- 'never deleted' and let a fill from before it be stored.

-- @include common

local entryKey = KEYS[1]
local generationKey = KEYS[2]
local leaseKey = KEYS[3]
local lease = ARGV[1]
local owner = ARGV[2]
local grace = ARGV[3]
check(#KEYS >= 3 and #ARGV == 3, 'read takes KEYS: entry, generation, lease, groups...; ARGV: lease, owner, grace')
check(isPositiveCount(lease), 'lease must be a positive integer of ms')
check(type(owner) == 'string' and #owner > 0, 'owner must be a non-empty string')
check(isCount(grace), 'grace must be a whole number of ms')
local base, name = entryBase(entryKey, generationKey)
checkLease(leaseKey, name, base)
local names = groupNames(base, 4, 'keys after the lease must be group versions')

-- The current versions of the groups asked for: a hit's check, and a miss's token.
local versions = #KEYS > 3 and redis.call('MGET', unpack(KEYS, 4)) or {}
local stored = redis.call('GET', entryKey)
local stale = nil
if type(stored) == 'string' then -- else there is no entry: a miss
  if isExactHit(stored, names, versions) then return {1, stored} end
  -- An entry stored under other groups than the ones asked for is a miss here; the fill replaces it.
  local entry, held
  entry, stale, held = judgeEntry(entryKey, stored, base, tonumber(grace))
  if entry ~= nil and covers(held, names) then return {1, entry} end
  if stale ~= nil and not covers(held, names) then stale = nil end
end

-- One fill per key: the first miss takes the lease; the others wait for it (or, within grace,
-- serve the stale entry while it refreshes).
local leased, wait = takeLease(leaseKey, owner, lease)
local t = redis.call('TIME')
local generation = generationForToken(generationKey, lease, t)
-- made at its full length at once (a table grown one key at a time is resized on the way)
local token = {stale and 2 or 0, stale or '', leased, wait, t[1], t[2], generation, unpack(versions, 1, #KEYS - 3)}
for i = 1, #KEYS - 3 do
  if not isVersion(versions[i]) then
    local version = versionAt(t)
    redis.call('SET', KEYS[3 + i], version, 'PX', lease)
    token[7 + i] = version
  end
end
return reply(token)
