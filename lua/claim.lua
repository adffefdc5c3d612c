-- claim: the key's half of a miss under sharding 'key' (src/spread.ts): the fill lease when no
-- one holds it, and the key's generation and Redis time for the fill token. The versions of the
-- token live on their groups' slots and are read by stamp.lua, sent at the same moment; a version
-- is read after this read began either way, which is all a token needs (see src/spread.ts).
--
-- KEYS[1]     entry
-- KEYS[2]     the key's generation (moved by delete; created here when missing)
-- KEYS[3]     the key's fill lease (who is filling it; see src/leases.ts)
-- ARGV[1]     lease (integer, ms): how long the fill lease taken here and a generation created
--             here live
-- ARGV[2]     owner (string): the fill lease's value when this read takes it
--
-- Returns {entry, leased, wait, seconds, microseconds, generation}: the entry as stored, or ''
-- (the client checks it: a stale one may be served within grace); leased 1 if this read took
-- the fill lease, 0 if another holds it, wait the ms the other holder's lease has left (0 when
-- leased); then the Redis time and the key's generation. A missing generation gets a fresh one
-- (see read.lua for why).

-- @include common

check(#KEYS == 3 and #ARGV == 2, 'claim takes KEYS: entry, generation, lease; ARGV: lease, owner')
local entryKey = KEYS[1]
local generationKey = KEYS[2]
local leaseKey = KEYS[3]
local lease = ARGV[1]
local owner = ARGV[2]
check(isPositiveCount(lease), 'lease must be a positive integer of ms')
check(type(owner) == 'string' and #owner > 0, 'owner must be a non-empty string')
local base, name = entryBase(entryKey, generationKey)
check(isSpread(base), "claim is for sharding 'key'")
checkLease(leaseKey, name, base)

local leased, wait = takeLease(leaseKey, owner, lease)
local t = redis.call('TIME')
local generation = generationForToken(generationKey, lease, t)
local entry = redis.call('GET', entryKey)
return reply({type(entry) == 'string' and entry or '', leased, wait, t[1], t[2], generation})
