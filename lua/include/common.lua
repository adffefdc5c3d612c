-- Shared by every script (spliced in where a script says `-- @include common`).
-- Written for both Redis's Lua 5.1 and the in-memory backend's Lua 5.3 (fengari, whose integers
-- are 32-bit): no integer arithmetic on versions or times, which stay strings.

-- The version or generation made at Redis time `t` (a TIME reply): its microseconds, as a string.
local function versionAt(t)
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

-- A version or generation no earlier one can equal: Redis TIME in microseconds, as a string.
local function freshVersion()
  return versionAt(redis.call('TIME'))
end

-- Whether version (or time) `a` is later than `b`: both digits without leading zeros, compared as
-- text, so no integer arithmetic is needed.
local function isLater(a, b)
  return #a > #b or (#a == #b and a > b)
end

-- A reply is a version only if it is a string: Redis gives `false` for a missing key, the
-- in-memory backend's MGET a null userdata.
local function isVersion(v)
  return type(v) == 'string'
end

-- Every script returns its arrays through this. The in-memory backend (fengari, Lua 5.3) reads a
-- returned table as an array only when its keys were inserted last-first (else it returns
-- nothing): it gets a copy made back to front. Redis (Lua 5.1) reads any sequence, so there the
-- list is returned as it is: that copy, into a table grown one key at a time, cost a read's miss
-- about 12k instructions.
local function reply(list)
  if _VERSION == 'Lua 5.1' then return list end
  local out = {}
  for i = #list, 1, -1 do out[i] = list[i] end
  return out
end

-- Rejects a malformed argument before anything is written.
local function check(ok, message)
  if not ok then error('redis-group-cache: ' .. message) end
end

-- Digits, at most `length` of them, matching `pattern` (default: any digits; find, not match: no
-- capture string is made).
local function isDigits(s, length, pattern)
  return type(s) == 'string' and #s <= length and string.find(s, pattern or '^%d+$') ~= nil
end

-- A whole number of ms, at most 2^53 - 1 (as the client allows): Lua and Redis read it exactly.
-- Only 16 digits can be more: fewer are not read as a number here. `pattern` narrows the digits.
local function isCount(s, pattern)
  return isDigits(s, 16, pattern) and (#s < 16 or tonumber(s) <= 9007199254740991)
end

-- A count above 0, told by one match of its digits: reading it as a number costs more.
local function isPositiveCount(s)
  return isCount(s, '^0*[1-9]%d*$')
end

-- What a version or generation key holds: a number INCR can still move.
local function isVersionText(s)
  return isDigits(s, 18)
end

-- The bases of the 'key' layout that baseOf found: told once, by the pattern that matched (a
-- Lua call of the string library costs more than this table's lookups).
local spreadBases = {}

-- Every key a script touches is of one namespace, in one of two layouts (src/keys.ts):
--   sharding 'namespace': `<prefix>:{<ns>}:<kind>:<name>`, every key in the namespace's slot;
--   sharding 'key':       `<prefix>:<<ns>>:<kind>{:<name>}`, each key in its name's slot.
-- The base (`<prefix>:{<ns>}:` or `<prefix>:<<ns>>:`) is the namespace: prefix and namespace hold
-- no braces or angle brackets, so the first `{` or `<` opens it. A script takes its base from
-- KEYS[1] and refuses any other key that is not of the same base and the kind it expects, so that
-- it never reaches outside the namespace (its ACL pattern, its Cluster slot).
local function baseOf(key)
  local base = string.match(key, '^[^{}<>]*{[^{}<>]*}:')
  if base == nil then
    base = string.match(key, '^[^{}<>]*<[^{}<>]*>:')
    check(base ~= nil, 'keys must be of a namespace: <prefix>:{<namespace>}:... or <prefix>:<<namespace>>:...')
    spreadBases[base] = true
  end
  return base
end

-- Whether a base (from baseOf) is of the 'key' layout, `<prefix>:<<ns>>:`.
local function isSpread(base)
  return spreadBases[base] == true
end

-- The key of `kind` and `name` in the namespace of `base`.
local function keyOf(base, kind, name)
  if isSpread(base) then return base .. kind .. '{:' .. name .. '}' end
  return base .. kind .. ':' .. name
end

-- The name in `key` if it is a key of `kind` in the namespace of `base` (a name of at least one
-- byte), else nil.
local function nameOf(key, base, kind)
  if isSpread(base) then
    local head = base .. kind .. '{:'
    if #key > #head + 1 and string.find(key, head, 1, true) == 1 and string.byte(key, -1) == 125 then
      return string.sub(key, #head + 1, -2)
    end
    return nil
  end
  local head = base .. kind .. ':'
  if #key > #head and string.find(key, head, 1, true) == 1 then return string.sub(key, #head + 1) end
  return nil
end

-- The group names of KEYS[from..], each a group version of the namespace of `base`; refuses
-- any other key with `message`. The key's head is made once for them all (as nameOf's).
local function groupNames(base, from, message)
  local spread = isSpread(base)
  local head = spread and base .. 'g{:' or base .. 'g:'
  -- a name of at least one byte, and under 'key' the closing brace
  local first, least, tail = #head + 1, spread and #head + 2 or #head + 1, spread and -2 or -1
  -- made at its full length at once: a table grown one name at a time is resized on the way
  local names = {unpack(KEYS, from)}
  for i = 1, #names do
    local key = names[i]
    check(#key >= least and string.find(key, head, 1, true) == 1 and (not spread or string.byte(key, -1) == 125),
      message)
    names[i] = string.sub(key, first, tail)
  end
  return names
end

-- The base and name of an entry and its generation; refuses any other pair.
local function entryBase(entryKey, generationKey)
  local base = baseOf(entryKey)
  local name = nameOf(entryKey, base, 'e')
  check(name ~= nil and generationKey == keyOf(base, 't', name), 'keys must be an entry and its generation')
  return base, name
end

-- The fill lease of the entry `name`; refuses any other key.
local function checkLease(leaseKey, name, base)
  check(leaseKey == keyOf(base, 'l', name), 'keys must be an entry, its generation and its lease')
end

-- An entry is one string: the snapshot of its groups' versions, its group names, then the value.
--   <version 1>,...,<version n>;<bytes>:<group 1>...<bytes>:<group n><value>
-- With no groups it is ';' and the value. Versions are decimal, so the first ';' ends them; each
-- name is prefixed with its length in bytes, so a name may hold any character. A reader that
-- knows an entry's groups can check it with one MGET of the entry and their versions, no script.
local function encodeEntry(versions, names, value)
  local head = table.concat(versions, ',') .. ';'
  for i = 1, #names do
    -- the length's digits by string.char, up to two of them: a number made a string by tostring
    -- costs a script several times more
    local n = #names[i]
    local digits = n < 10 and string.char(48 + n)
      or n < 100 and string.char(48 + (n - n % 10) / 10, 48 + n % 10)
      or tostring(n)
    head = head .. digits .. ':' .. names[i]
  end
  return head .. value
end

-- The snapshot and group names of an entry, or nil for a string that is not one.
local function decodeEntry(entry)
  local semi = string.find(entry, ';', 1, true)
  if semi == nil then return nil end
  local snapshot, names = {}, {}
  for version in string.gmatch(string.sub(entry, 1, semi - 1), '[^,]+') do snapshot[#snapshot + 1] = version end
  local pos = semi + 1
  for i = 1, #snapshot do
    local colon = string.find(entry, ':', pos, true)
    local length = colon and tonumber(string.sub(entry, pos, colon - 1))
    if length == nil then return nil end
    names[i] = string.sub(entry, colon + 1, colon + length)
    pos = colon + length + 1
  end
  return snapshot, names
end

-- The Redis time now, in seconds with a fraction (a float: fengari's integers are 32-bit).
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- SETs `key` to `value` with a TTL of `ttl` ms, or none when ttl is ''.
local function setFor(key, value, ttl)
  if ttl == '' then
    redis.call('SET', key, value)
  else
    redis.call('SET', key, value, 'PX', ttl)
  end
end

-- Writes the entry of `versions`, `names` and `value` under `header` (see graceHeader), living
-- `ttl` ms ('' for ever): its head SET, the value APPENDed, then its TTL. The value is never
-- copied into a Lua string of the whole entry (that copy, and the garbage it leaves, cost a set
-- of 1 KiB about 18k instructions). The TTL comes last, not with the head's SET: on the in-memory
-- backend, whose clock moves during a script, a head with the TTL could expire before the APPEND,
-- which would then make a key of the value alone, without TTL.
local function writeEntry(key, header, versions, names, value, ttl)
  redis.call('SET', key, header .. encodeEntry(versions, names, ''))
  redis.call('APPEND', key, value)
  if ttl ~= '' then redis.call('PEXPIRE', key, ttl) end
end

-- Makes `key` live at least `ttl` ms from now, or forever when ttl is '': only ever lengthens (a
-- longer TTL, or none at all, stays: GT counts no TTL as the longest). One call, where a PTTL and
-- then a PEXPIRE cost a set about 5k instructions a group; the in-memory backend, which ignores GT,
-- is given it in src/memory.ts.
local function lengthen(key, ttl)
  if ttl == '' then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIRE', key, ttl, 'GT')
  end
end

-- The header of an entry stored with `grace` ms (a string) at Redis time `t`, and how long its key
-- lives: TTL + grace, the header saying when the TTL ends (see splitHeader). No grace: no header,
-- and the key lives the TTL ('' for none).
local function graceHeader(ttl, grace, t)
  if tonumber(grace) == 0 then return '', ttl end
  if ttl == '' then return '~' .. grace .. ',~', ttl end
  local fresh = string.format('%.3f', t + tonumber(ttl) / 1000)
  return '~' .. grace .. ',' .. fresh .. '~', string.format('%.0f', tonumber(ttl) + tonumber(grace))
end

-- Whether a SET answered OK: Redis gives a status table, the in-memory backend the string.
local function isOk(reply)
  return type(reply) == 'table' or reply == 'OK'
end

-- A miss takes the key's fill lease when no one holds it. Returns 1 if it took it, else 0 and
-- the ms the holder's lease has left.
local function takeLease(leaseKey, owner, lease)
  if isOk(redis.call('SET', leaseKey, owner, 'NX', 'PX', lease)) then return 1, 0 end
  local wait = redis.call('PTTL', leaseKey)
  return 0, wait < 0 and 0 or wait
end

-- The key's generation for a miss's token read at Redis time `t`, made from it when missing; it
-- must outlive every token that saw it, so it lives `lease` ms from now either way. One SET when
-- it is missing (NX with GET: Redis 7.0 or later), and a PEXPIRE besides when it is there.
local function generationForToken(generationKey, lease, t)
  local fresh = versionAt(t)
  local generation = redis.call('SET', generationKey, fresh, 'NX', 'PX', lease, 'GET')
  if isVersion(generation) then
    redis.call('PEXPIRE', generationKey, lease)
    return generation
  end
  return fresh
end

-- A write without a token moves the key's generation (when a miss created one), so a fill that
-- read before it is refused even after this entry is gone again (TTL, eviction, an invalidation).
local function moveGeneration(generationKey)
  local generation = redis.call('GET', generationKey)
  if isVersion(generation) then
    check(isVersionText(generation), 'the generation key does not hold a generation')
    redis.call('INCR', generationKey)
  end
end

-- An entry stored with grace opens with a header, `~<grace ms>,<fresh until>~`: how long after
-- it stops being live it may still be served stale, and the Redis time (seconds) its TTL ends, or
-- nothing without a TTL (its key then lives TTL + grace). An entry without grace has no header.
-- Returns grace (0 without a header), fresh until (or nil) and the rest, or nil for a bad header.
local function splitHeader(entry)
  if string.sub(entry, 1, 1) ~= '~' then return 0, nil, entry end
  local close = string.find(entry, '~', 2, true)
  if close == nil then return nil end
  local grace, fresh = string.match(string.sub(entry, 2, close - 1), '^(%d+),([%d.]*)$')
  if grace == nil then return nil end
  return tonumber(grace), fresh ~= '' and tonumber(fresh) or nil, string.sub(entry, close + 1)
end

-- A token set that found a live entry of its groups: 1 if that entry is this very set's, run
-- again (a client resends what was in flight when its connection dropped): the entry is what it
-- stored with `expected` (the token's versions, then the late groups' as stamped) and the key's
-- generation is still the token's (another writer's plain set of the same value since moved it,
-- and that entry is not this set's to claim). Else 0: a live entry is there.
local function resentSet(entryKey, generationKey, tokenGeneration, expected, names, value, grace)
  if redis.call('GET', generationKey) ~= tokenGeneration then return 0 end
  local storedGrace, _, stored = splitHeader(redis.call('GET', entryKey))
  if storedGrace == grace and stored == encodeEntry(expected, names, value) then return 1 end
  return 0
end

-- When an entry stopped being live, in Redis seconds, or nil when that is not known. A soft
-- expire-groups leaves the group's record (kind `p`) = `<version it moved from>,<seconds>,<microseconds>`;
-- a group whose record is not of the snapshot's version moved more than once since, or hard, or
-- lost its record: the entry is never served stale. Its first invalidation counts: the TTL's end
-- or a group's move, whichever came first.
local function staleSince(snapshot, names, current, base, fresh, t)
  local since = nil
  if fresh ~= nil and t >= fresh then since = fresh end
  for i = 1, #snapshot do
    if current[i] ~= snapshot[i] then
      local moved = redis.call('GET', keyOf(base, 'p', names[i]))
      if type(moved) ~= 'string' then return nil end
      local from, seconds, micros = string.match(moved, '^(%d+),(%d+),(%d+)$')
      if from ~= snapshot[i] then return nil end
      local at = tonumber(seconds) + tonumber(micros) / 1000000
      if since == nil or at < since then since = at end
    end
  end
  return since
end

-- Whether an entry holding the groups `held` is stored under every group of `names` (it may have
-- more): a read that names groups gets no other entry, or the invalidations of the groups it
-- names would never reach it.
local function covers(held, names)
  if held == nil then return false end
  local has = {}
  for i = 1, #held do has[held[i]] = true end
  for i = 1, #names do
    if not has[names[i]] then return false end
  end
  return true
end

-- The entry stored under entryKey if it is live, else nil. An entry is live while every group in
-- its snapshot still has the version the snapshot recorded and its TTL has not ended. A stale
-- entry is deleted on sight, so nothing stale outlives the read that found it, unless it was
-- stored with grace and went stale less than that grace ago: then it stays, and when it went
-- stale less than `graceLimit` ms ago (the reader's grace) it is the second result. The third is
-- the group names the entry returned holds, so that a caller need not decode it again. `entry` is
-- what entryKey holds (a GET's reply).
local function judgeEntry(entryKey, entry, base, graceLimit)
  if type(entry) ~= 'string' then return nil end
  local grace, fresh, body = splitHeader(entry)
  local snapshot, names
  if grace ~= nil then snapshot, names = decodeEntry(body) end
  local live = snapshot ~= nil
  local current = {}
  if live and #names > 0 then
    local groupKeys = {}
    for i = 1, #names do groupKeys[i] = keyOf(base, 'g', names[i]) end
    current = redis.call('MGET', unpack(groupKeys))
    for i = 1, #snapshot do
      if current[i] ~= snapshot[i] then
        live = false
        break
      end
    end
  end
  if live and fresh == nil then return entry, nil, names end
  local t
  if live then
    t = now()
    if t < fresh then return entry, nil, names end
  end
  if snapshot ~= nil and grace > 0 then
    t = t or now()
    local since = staleSince(snapshot, names, current, base, fresh, t)
    if since ~= nil then
      local age = (t - since) * 1000
      if age < grace then
        if graceLimit ~= nil and age < graceLimit then return nil, entry, names end
        return nil
      end
    end
  end
  redis.call('DEL', entryKey)
  return nil
end

-- The entry stored under entryKey, judged by judgeEntry.
local function readEntry(entryKey, base, graceLimit)
  return judgeEntry(entryKey, redis.call('GET', entryKey), base, graceLimit)
end

-- Whether `entry` (a GET's reply) is live and stored under exactly the groups `names`, in that
-- order, with no header: it then opens with the current `versions` of those groups (an MGET's
-- reply) and `names`, as encodeEntry writes them, which is checked in place: decoding it (that
-- was most of what a read's hit cost) and writing the names' lengths as text (a number made a
-- string costs a Lua script more than a Redis call's share) are both avoided. A name of 100 bytes
-- or more is left to judgeEntry, as is any other entry: this says nothing of them.
local function isExactHit(entry, names, versions)
  if type(entry) ~= 'string' or string.byte(entry, 1) == 126 then return false end -- '~': a header
  local n = #names
  for i = 1, n do
    if not isVersion(versions[i]) then return false end
  end
  local snapshot = n == 0 and ';' or table.concat(versions, ',', 1, n) .. ';'
  local pos = #snapshot + 1
  if string.sub(entry, 1, pos - 1) ~= snapshot then return false end
  for i = 1, n do
    local name = names[i]
    local length = #name
    if length < 10 then
      local digit, colon = string.byte(entry, pos, pos + 1)
      if digit ~= 48 + length or colon ~= 58 then return false end
      pos = pos + 2
    elseif length < 100 then
      local tens, units, colon = string.byte(entry, pos, pos + 2)
      if tens ~= 48 + (length - length % 10) / 10 or units ~= 48 + length % 10 or colon ~= 58 then return false end
      pos = pos + 3
    else
      return false
    end
    if string.sub(entry, pos, pos + length - 1) ~= name then return false end
    pos = pos + length
  end
  return true
end
