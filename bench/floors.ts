// The floors of the scripts, for bench/instructions.ts: what a script would cost with less of its
// Lua, against which its own figure and the targets for it are read.

/**
 * The floor of three scripts: only the Redis calls each makes on the path measured, with its keys
 * and value, in its order, and none of its Lua (no argument or key checks, no helpers, no entry encoding: the
 * head is given). What a script costs above its floor is its own work; the floor is what this
 * data model asks of Redis for the call.
 */
export const FLOOR_HEAD = '1796283017960058,1796283017960076,1796283017960090;6:user_18:bucket_13:all'
export const FLOOR_SET = "set's Redis calls alone (MGET of 3 versions, GET of the generation, SET, APPEND, 3 PERSIST)"
export const FLOOR_SET_LUA = `local v = redis.call('MGET', unpack(KEYS, 4))
redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('APPEND', KEYS[1], ARGV[1])
for i = 4, #KEYS do redis.call('PERSIST', KEYS[i]) end
return 1`
export const FLOOR_MISS =
  "a miss's Redis calls alone (MGET of 3 versions, GET of the entry, the lease's SET, TIME, the generation's SET, the token)"
export const FLOOR_MISS_LUA = `local v = redis.call('MGET', unpack(KEYS, 4))
redis.call('GET', KEYS[1])
redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[1])
local t = redis.call('TIME')
redis.call('SET', KEYS[2], t[1] .. t[2], 'NX', 'PX', ARGV[1], 'GET')
return {0, '', 1, 0, t[1], t[2], t[1] .. t[2], v[1], v[2], v[3]}`
export const FLOOR_TOKEN_SET =
  "a token set's Redis calls alone (GET and DEL of the lease, MGET of 3 versions, GET of the entry, TIME, GET of the generation, SET, APPEND, 3 PERSIST)"
export const FLOOR_TOKEN_SET_LUA = `if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
local v = redis.call('MGET', unpack(KEYS, 4))
redis.call('GET', KEYS[1])
local t = redis.call('TIME')
redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('APPEND', KEYS[1], ARGV[1])
for i = 4, #KEYS do redis.call('PERSIST', KEYS[i]) end
return 1`

/*
 * The same paths with the script's work written inline, in one chunk of Lua with no helpers: no
 * closure is made per call and no helper is called. "Checks" are the argument and key checks the
 * script makes before its first Redis call (every one that the hostile-input tests need), as
 * plain expressions, for the layout 'namespace' (the one measured); "work" is what the path does
 * besides them (a miss's token; a token's compares and the entry's head, written as encodeEntry
 * writes it). Each is only the path measured (a miss, a token set that stores, no TTL, no grace,
 * no late groups) and does nothing that path does not need: this inline form is about the least
 * a script doing the same work costs.
 */

/** Lua: `s`, an argument, is a whole number of ms (positive: `^0*[1-9]%d*$`), as isCount checks it. */
const count = (s: string, pattern = '^%d+$') =>
  `(type(${s}) == 'string' and #${s} <= 16 and string.find(${s}, '${pattern}') and (#${s} < 16 or tonumber(${s}) <= 9007199254740991))`
const positive = (s: string) => count(s, '^0*[1-9]%d*$')

/** Lua: the checks of an entry, its generation and its lease (the layout 'namespace'), and the head every group key must open with. */
const KEY_CHECKS = `local base = string.match(entryKey, '^[^{}<>]*{[^{}<>]*}:')
if base == nil then error('layout') end
local head = base .. 'e:'
if not (#entryKey > #head and string.find(entryKey, head, 1, true) == 1) then error('entry') end
local name = string.sub(entryKey, #head + 1)
if generationKey ~= base .. 't:' .. name then error('generation') end
if leaseKey ~= base .. 'l:' .. name then error('lease key') end
local groupHead = base .. 'g:'`

/** Lua: a miss's path after its checks, from the versions' MGET to its token. */
const MISS_PATH = `local versions = #KEYS > 3 and redis.call('MGET', unpack(KEYS, 4)) or {}
local stored = redis.call('GET', entryKey)
if type(stored) == 'string' then return {1, stored} end -- not the path measured
local leased, wait = 1, 0
if type(redis.call('SET', leaseKey, owner, 'NX', 'PX', lease)) ~= 'table' then
  leased = 0
  wait = redis.call('PTTL', leaseKey)
end
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
local generation = redis.call('SET', generationKey, fresh, 'NX', 'PX', lease, 'GET')
if type(generation) == 'string' then redis.call('PEXPIRE', generationKey, lease) else generation = fresh end
local token = {0, '', leased, wait, t[1], t[2], generation, unpack(versions)}
for i = 1, #KEYS - 3 do
  if type(versions[i]) ~= 'string' then
    token[7 + i] = fresh
    redis.call('SET', KEYS[3 + i], fresh, 'PX', lease)
  end
end
return token`

export const FLOOR_MISS_WORK =
  "a miss's Redis calls and its work, inline, without its checks (the read script's miss with no helpers)"
export const FLOOR_MISS_WORK_LUA = `local entryKey, generationKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local lease, owner = ARGV[1], ARGV[2]
${MISS_PATH}`

export const FLOOR_MISS_CHECKED =
  "a miss's Redis calls, its work and its checks, inline (the read script's miss with no helpers)"
export const FLOOR_MISS_CHECKED_LUA = `local entryKey, generationKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local lease, owner, grace = ARGV[1], ARGV[2], ARGV[3]
if not (#KEYS >= 3 and #ARGV == 3) then error('arguments') end
if not ${positive('lease')} then error('lease') end
if not (type(owner) == 'string' and #owner > 0) then error('owner') end
if not ${count('grace')} then error('grace') end
${KEY_CHECKS}
for i = 4, #KEYS do
  local key = KEYS[i]
  if not (#key > #groupHead and string.find(key, groupHead, 1, true) == 1) then error('group') end
end
${MISS_PATH}`

/** Lua: a token set's path after its checks, from the lease's release to the versions' upkeep. */
const TOKEN_SET_PATH = `if tokenOwner ~= '' and redis.call('GET', leaseKey) == tokenOwner then redis.call('DEL', leaseKey) end
local versions = redis.call('MGET', unpack(KEYS, 4))
local stored = redis.call('GET', entryKey)
if type(stored) == 'string' then return 0 end -- not the path measured
local t = redis.call('TIME')
local ageMs = (tonumber(t[1]) - tonumber(tokenSeconds)) * 1000 + (tonumber(t[2]) - tonumber(tokenMicros)) / 1000
if ageMs >= tonumber(lease) then return -1 end
if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end
for i = 1, tokenCount do
  if versions[i] ~= ARGV[5 + i] then return -3 end
end
local entryHead = table.concat(versions, ',') .. ';'
for i = 1, #names do
  local n = #names[i] -- its digits by string.char, as encodeEntry writes them (names under 100 bytes here)
  local digits = n < 10 and string.char(48 + n) or string.char(48 + (n - n % 10) / 10, 48 + n % 10)
  entryHead = entryHead .. digits .. ':' .. names[i]
end
redis.call('SET', entryKey, entryHead)
redis.call('APPEND', entryKey, value)
for i = 4, #KEYS do redis.call('PERSIST', KEYS[i]) end
return 1`

export const FLOOR_TOKEN_SET_WORK =
  "a token set's Redis calls and its work, inline, without its checks (the set script's token path with no helpers)"
export const FLOOR_TOKEN_SET_WORK_LUA = `local entryKey, generationKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local value, lease, token = ARGV[1], ARGV[3], ARGV[5]
local tokenCount = #ARGV - 5
local tokenSeconds, tokenMicros, tokenGeneration, tokenOwner = string.match(token, '^(%d+),(%d+),(%d+),?(.*)$')
local names = {}
for i = 4, #KEYS do names[i - 3] = string.sub(KEYS[i], #'rgc:{bench}:g:' + 1) end
${TOKEN_SET_PATH}`

export const FLOOR_TOKEN_SET_CHECKED =
  "a token set's Redis calls, its work and its checks, inline (the set script's token path with no helpers)"
export const FLOOR_TOKEN_SET_CHECKED_LUA = `local entryKey, generationKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local value, ttl, lease, grace, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local groupCount = #KEYS - 3
local hasToken = token ~= nil and token ~= ''
local tokenCount = hasToken and #ARGV - 5 or groupCount
if not (#KEYS >= 3) then error('keys') end
if not (#ARGV >= 5 and (hasToken or #ARGV == 5) and tokenCount <= groupCount) then error('arguments') end
if not (ttl == '' or ${positive('ttl')}) then error('ttl') end
if not ${positive('lease')} then error('lease') end
if not ${count('grace')} then error('grace') end
local tokenSeconds, tokenMicros, tokenGeneration, tokenOwner = string.match(token, '^(%d+),(%d+),(%d+),?(.*)$')
if tokenGeneration == nil then error('token') end
for i = 1, tokenCount do
  local version = ARGV[5 + i]
  if not (#version <= 18 and string.find(version, '^%d+$')) then error('token version') end
end
${KEY_CHECKS}
local names = {unpack(KEYS, 4)}
for i = 1, #names do
  local key = names[i]
  if not (#key > #groupHead and string.find(key, groupHead, 1, true) == 1) then error('group') end
  names[i] = string.sub(key, #groupHead + 1)
end
${TOKEN_SET_PATH}`
