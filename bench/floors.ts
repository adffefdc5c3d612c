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
