"""The Lua scripts behind :mod:`eventkit._store._redis`.

Every transition that reads a state and writes from it runs as one script: Redis runs a
script alone, so two replicas (or two drainers) can never interleave between the check
and the write. The scripts are sent once per connection with EVALSHA (redis-py's
``Script`` loads them again after a server restart empties its script cache).

Every key a script touches shares one hash tag, ``{<prefix>}``, so the scripts stay
valid on a Redis Cluster: all of one store lives in one slot. Outbox scripts build
their key names from that tag (``ARGV[1]``) because the names depend on ids the
script allocates.

Stream ids are compared as ``(milliseconds, sequence)`` numbers: both fit a Lua double.
"""

from __future__ import annotations

# Shared helpers, prepended to the scripts that need them.
_IDS = """
local function idparts(id)
  local d = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, d - 1)), tonumber(string.sub(id, d + 1)), string.sub(id, 1, d - 1)
end
local function idlt(a, b)
  local am, as = idparts(a)
  local bm, bs = idparts(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local function field(flat, name)
  for j = 1, #flat, 2 do
    if flat[j] == name then return flat[j + 1] end
  end
  return nil
end
"""

# KEYS[1] events stream, KEYS[2] meta hash, KEYS[2 + i] record i's dedupe key (or the
# events key again when the record has none).
# ARGV: now, max_events, max_bytes, dedupe_ttl_ms, n, then per record: provider, payload, has_dedupe.
# Returns {'ok', flag_1, ..., flag_n} or {'full', held, bytes}: a full store writes nothing.
APPEND = """
local now, maxn, maxb, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local fresh, seen = {}, {}
local newn, newb = 0, 0
for i = 1, n do
  local b = 5 + (i - 1) * 3
  local isnew = true
  if ARGV[b + 3] == '1' then
    local k = KEYS[2 + i]
    if seen[k] or redis.call('EXISTS', k) == 1 then isnew = false end
    seen[k] = true
  end
  fresh[i] = isnew
  if isnew then
    newn = newn + 1
    newb = newb + string.len(ARGV[b + 2])
  end
end
if newn > 0 then
  local held = redis.call('XLEN', KEYS[1])
  local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
  if (maxn > 0 and held + newn > maxn) or (maxb > 0 and bytes + newb > maxb) then return {'full', held, bytes} end
end
local out = {'ok'}
for i = 1, n do
  local b = 5 + (i - 1) * 3
  if fresh[i] then
    local id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[b + 1], 'd', ARGV[b + 2], 't', now)
    if ARGV[b + 3] == '1' then redis.call('SET', KEYS[2 + i], id, 'PX', ttl) end
    out[i + 1] = 1
  else
    out[i + 1] = 0
  end
end
if newb > 0 then redis.call('HINCRBY', KEYS[2], 'bytes', newb) end
return out
"""

# Hand out pending entries: released ones now due, this consumer's own, and other
# consumers' idle for claim_idle; then new entries, so a busy consumer needs one round trip.
# Each pending one is XCLAIMed (the delivery counter counts the attempt) or, past
# max_attempts, marked dead: it stays pending (held, so never trimmed) and is listed in
# the group's dead zset, which every hand-out skips.
# KEYS: events, not-before zset, errors hash, dead zset.
# ARGV: group, consumer, now, claim_idle_ms, count, max_attempts, scan_idle (1/0: look at
# the whole group's pending list, which costs time in proportion to it, or skip it this time).
# Returns {entries, next_due}: entries are {id, fields, attempts}; next_due the earliest
# not-before still in the future ('' when none).
CLAIM = (
    _IDS
    + """
local g, c, now, idle = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local count, maxa = tonumber(ARGV[5]), tonumber(ARGV[6])
local out, taken = {}, {}
local function handout(id, delivered)
  if taken[id] then return end
  taken[id] = true
  redis.call('ZREM', KEYS[2], id)
  if delivered + 1 > maxa then
    redis.call('ZADD', KEYS[4], ARGV[3], id)
    return
  end
  local r = redis.call('XCLAIM', KEYS[1], g, c, 0, id)
  if r[1] then out[#out + 1] = {r[1][1], r[1][2], delivered + 1} end
end
local function available(id)
  if taken[id] or redis.call('ZSCORE', KEYS[4], id) then return false end
  local nb = redis.call('ZSCORE', KEYS[2], id)
  return not nb or tonumber(nb) <= now
end
-- 1. released (or replayed) entries whose not-before has come
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, count)
for _, id in ipairs(due) do
  local p = redis.call('XPENDING', KEYS[1], g, id, id, 1)
  if #p == 0 or redis.call('ZSCORE', KEYS[4], id) then
    redis.call('ZREM', KEYS[2], id)
  else
    handout(id, p[1][4])
  end
end
-- 2. this consumer's own pending (a restarted process), 3. anyone's idle past claim_idle
local function scan(extra_idle, consumer)
  local start = '-'
  local page = math.max(count, 100)
  for _ = 1, 20 do
    if #out >= count then return end
    local p
    if consumer then
      p = redis.call('XPENDING', KEYS[1], g, start, '+', page, consumer)
    else
      p = redis.call('XPENDING', KEYS[1], g, 'IDLE', extra_idle, start, '+', page)
    end
    for _, e in ipairs(p) do
      if #out >= count then return end
      if available(e[1]) then handout(e[1], e[4]) end
    end
    if #p < page then return end
    start = '(' .. p[#p][1]
  end
end
if #out < count then scan(0, c) end
if #out < count and ARGV[7] == '1' then scan(idle, nil) end
-- 4. new entries (a script never blocks: the caller blocks with XREADGROUP when this finds none)
if #out < count then
  local r = redis.call('XREADGROUP', 'GROUP', g, c, 'COUNT', count - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = {e[1], e[2], 1} end
  end
end
local nxt = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[3], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local nd = ''
if #nxt > 0 then nd = nxt[2] end
return {out, nd}
"""
)

# KEYS: events, not-before zset, errors hash, dead zset. ARGV: group, id, not_before, error ('' none), has_error.
# An entry not pending (acknowledged already, an unknown group) or dead is left alone.
RELEASE = """
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if p['err'] or #p == 0 or redis.call('ZSCORE', KEYS[4], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if ARGV[5] == '1' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[4]) end
return 1
"""

# Dead letters back to pending with their attempts reset: the delivery counter set to 0
# (XCLAIM RETRYCOUNT), due at once (not-before 0), no longer in the dead zset.
# KEYS: events, not-before zset, errors hash, dead zset. ARGV: group, ids...
REPLAY = """
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[4], id) == 1 then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    if #p > 0 then
      redis.call('XCLAIM', KEYS[1], ARGV[1], p[1][2], 0, id, 'RETRYCOUNT', 0, 'JUSTID')
      redis.call('ZADD', KEYS[2], 0, id)
      redis.call('HDEL', KEYS[3], id)
      moved = moved + 1
    end
  end
end
return moved
"""

# Acknowledge: XACK and forget the entry's not-before, error and dead mark.
# KEYS: events, not-before zset, errors hash, dead zset. ARGV: group, ids...
ACK = """
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('ZREM', KEYS[2], unpack(ids))
redis.call('HDEL', KEYS[3], unpack(ids))
redis.call('ZREM', KEYS[4], unpack(ids))
return n
"""

# Delete inbox entries every group has acknowledged and older than retention. An entry a
# group has not been handed yet (after its last-delivered id) is never looked at; below the
# lowest id any group holds pending everything is done with; between the two, an entry is
# deleted only when no group holds it pending (a dead letter stays pending, so it stays,
# without holding back the entries after it). No group at all: nothing is deleted (a
# consumer yet to come starts from the oldest entry). Stops at the first entry younger
# than retention.
# KEYS: events, meta. ARGV: now, retention, limit, start ('-' or '(' .. last id looked at).
# Returns {deleted, last id looked at ('' when done)}.
TRIM = (
    _IDS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return {0, ''} end
local hard, fast = nil, nil
local holding = {}
for _, gi in ipairs(groups) do
  local name, last, pending = field(gi, 'name'), field(gi, 'last-delivered-id'), field(gi, 'pending')
  local _, seq, ms = idparts(last)
  local nextid = ms .. '-' .. string.format('%d', seq + 1)
  if not hard or idlt(nextid, hard) then hard = nextid end
  local low = nextid
  if pending > 0 then
    low = redis.call('XPENDING', KEYS[1], name)[2]
    holding[#holding + 1] = name
  end
  if not fast or idlt(low, fast) then fast = low end
end
local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local entries = redis.call('XRANGE', KEYS[1], ARGV[4], '(' .. hard, 'COUNT', limit)
local ids, bytes = {}, 0
local last = ''
for _, e in ipairs(entries) do
  local f = e[2]
  if tonumber(field(f, 't') or '0') > oldest then
    last = ''
    break
  end
  last = e[1]
  local done = idlt(e[1], fast)
  if not done then
    done = true
    for _, name in ipairs(holding) do
      if #redis.call('XPENDING', KEYS[1], name, e[1], e[1], 1) > 0 then
        done = false
        break
      end
    end
  end
  if done then
    ids[#ids + 1] = e[1]
    bytes = bytes + string.len(field(f, 'd') or '')
  end
end
if #ids > 0 then
  redis.call('XDEL', KEYS[1], unpack(ids))
  redis.call('HINCRBY', KEYS[2], 'bytes', -bytes)
end
if #entries < limit then last = '' end
return {#ids, last}
"""
)

# Outbox. Keys from the tag T = ARGV[1]:
#   T..'ob:seq'            id counter (ids are the sequence numbers, zero-padded: they sort by age)
#   T..'ob:i:'..id         hash: p k d a(attempts) pd(possible duplicate) c(created) e(last error)
#                          l(leased 1/0) lu(leased until) lo(owner) nb(not before) dead(1/0)
#   T..'ob:q:'..#p..':'..p..':'..k  list: the live (not dead) ids of one target in order
#   T..'ob:r:'..p          zset: target -> when its head item can be leased
#   T..'ob:all'            zset: every item by id; T..'ob:ap:'..p the same per provider
#   T..'ob:dead'           zset: dead items by id
#   T..'meta'              hash: 'bytes' held (inbox and outbox payloads)
_OUTBOX = """
local T = ARGV[1]
local function qkey(p, k) return T .. 'ob:q:' .. string.len(p) .. ':' .. p .. ':' .. k end
local function refresh(p, k)
  local head = redis.call('LINDEX', qkey(p, k), 0)
  if not head then
    redis.call('ZREM', T .. 'ob:r:' .. p, k)
    return
  end
  local h = redis.call('HMGET', T .. 'ob:i:' .. head, 'l', 'lu', 'nb')
  local score = tonumber(h[3]) or 0
  if h[1] == '1' then score = math.max(score, tonumber(h[2]) or 0) end
  redis.call('ZADD', T .. 'ob:r:' .. p, score, k)
end
local function remove(id)
  local ik = T .. 'ob:i:' .. id
  local h = redis.call('HMGET', ik, 'p', 'k', 'd')
  if not h[1] then return 0 end
  redis.call('LREM', qkey(h[1], h[2]), 1, id)
  redis.call('DEL', ik)
  redis.call('ZREM', T .. 'ob:all', id)
  redis.call('ZREM', T .. 'ob:ap:' .. h[1], id)
  redis.call('ZREM', T .. 'ob:dead', id)
  redis.call('HINCRBY', T .. 'meta', 'bytes', -string.len(h[3]))
  refresh(h[1], h[2])
  return 1
end
"""

# ARGV: T, now, max_bytes, max_events, n, then per item: provider, key, payload.
# Returns {'ok', ids...} or {'full', items held, bytes held}. Ids are zero-padded so they sort as strings.
ENQUEUE = (
    _OUTBOX
    + """
local now, maxb, maxn, n = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local add = 0
for i = 1, n do add = add + string.len(ARGV[5 + i * 3]) end
local bytes = tonumber(redis.call('HGET', T .. 'meta', 'bytes') or '0')
local held = redis.call('ZCARD', T .. 'ob:all')
if (maxb > 0 and bytes + add > maxb) or (maxn > 0 and held + n > maxn) then return {'full', held, bytes} end
local out = {'ok'}
for i = 1, n do
  local p, k, d = ARGV[3 + i * 3], ARGV[4 + i * 3], ARGV[5 + i * 3]
  local seq = redis.call('INCR', T .. 'ob:seq')
  local id = string.format('%016d', seq)
  redis.call('HSET', T .. 'ob:i:' .. id, 'p', p, 'k', k, 'd', d, 'a', 0, 'pd', 0, 'c', now,
    'l', 0, 'nb', 0, 'dead', 0)
  local q = qkey(p, k)
  redis.call('RPUSH', q, id)
  if redis.call('LLEN', q) == 1 then refresh(p, k) end
  redis.call('ZADD', T .. 'ob:all', seq, id)
  redis.call('ZADD', T .. 'ob:ap:' .. p, seq, id)
  out[#out + 1] = id
end
if add > 0 then redis.call('HINCRBY', T .. 'meta', 'bytes', add) end
return out
"""
)

# ARGV: T, provider, owner, count, lease_seconds, now, per_key. Returns the leased items'
# hashes as {id, flat fields} pairs, grouped by target, each target's run in order.
# A run is up to per_key consecutive items from the target's head, stopping at the first
# item under a live lease or not yet due; count items in all, dealt in rounds (every ready
# target's first item, then every one's second, ...). An item still marked leased (its
# lease ran out without complete, fail or unlease: the sender died) comes back flagged
# possible duplicate.
LEASE = (
    _OUTBOX
    + """
local p, owner, count, lease, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local per_key = tonumber(ARGV[7])
local function leasable(id)
  local h = redis.call('HMGET', T .. 'ob:i:' .. id, 'l', 'lu', 'nb')
  if h[1] == '1' and (tonumber(h[2]) or 0) > now then return false end
  return (tonumber(h[3]) or 0) <= now
end
local keys = redis.call('ZRANGEBYSCORE', T .. 'ob:r:' .. p, '-inf', ARGV[6], 'LIMIT', 0, count)
local runs = {}
for _, k in ipairs(keys) do
  local head = redis.call('LINDEX', qkey(p, k), 0)
  if not head then
    redis.call('ZREM', T .. 'ob:r:' .. p, k)
  elseif leasable(head) then
    runs[#runs + 1] = {k = k, ids = {head}, open = true}
  end
end
-- Deal: round d takes each open run's d-th item, until count items are taken.
local left = count - #runs
if left < 0 then left = 0 end
local depth = 1
while left > 0 and depth < per_key do
  local more = false
  for _, run in ipairs(runs) do
    if left == 0 then break end
    if run.open then
      local id = redis.call('LINDEX', qkey(p, run.k), depth)
      if id and leasable(id) then
        run.ids[#run.ids + 1] = id
        left = left - 1
        more = true
      else
        run.open = false
      end
    end
  end
  if not more then break end
  depth = depth + 1
end
local out = {}
local until_ = string.format('%.6f', now + lease)
for _, run in ipairs(runs) do
  for _, id in ipairs(run.ids) do
    local ik = T .. 'ob:i:' .. id
    local h = redis.call('HMGET', ik, 'l', 'a', 'pd')
    local pd = h[3]
    if h[1] == '1' then pd = '1' end
    redis.call('HSET', ik, 'l', 1, 'lu', until_, 'lo', owner, 'a', (tonumber(h[2]) or 0) + 1, 'pd', pd)
    out[#out + 1] = {id, redis.call('HGETALL', ik)}
  end
  redis.call('ZADD', T .. 'ob:r:' .. p, until_, run.k)
end
return out
"""
)

# ARGV: T, owner, ids... Items this owner leased and never attempted, back as they were:
# the attempt uncounted, the lease cleared, the possible-duplicate flag kept. Items not
# leased by this owner (completed, failed, or taken over after the lease ran out) are left
# alone. Returns the number given back.
UNLEASE = (
    _OUTBOX
    + """
local owner = ARGV[2]
local n = 0
local touched = {}
for i = 3, #ARGV do
  local ik = T .. 'ob:i:' .. ARGV[i]
  local h = redis.call('HMGET', ik, 'p', 'k', 'l', 'lo', 'a', 'dead')
  if h[1] and h[3] == '1' and h[4] == owner and h[6] ~= '1' then
    redis.call('HSET', ik, 'l', 0, 'lu', '', 'lo', '', 'a', math.max((tonumber(h[5]) or 1) - 1, 0))
    touched[h[1] .. '\0' .. h[2]] = {h[1], h[2]}
    n = n + 1
  end
end
for _, pk in pairs(touched) do refresh(pk[1], pk[2]) end
return n
"""
)

# ARGV: T, ids... Returns the number removed.
COMPLETE = (
    _OUTBOX
    + """
local n = 0
for i = 2, #ARGV do n = n + remove(ARGV[i]) end
return n
"""
)

# ARGV: T, id, error, retry_at ('' for now), dead (1/0), maybe_delivered (1/0).
FAIL = (
    _OUTBOX
    + """
local id = ARGV[2]
local ik = T .. 'ob:i:' .. id
local h = redis.call('HMGET', ik, 'p', 'k', 'dead')
if not h[1] then return 0 end
local nb = ARGV[4]
if nb == '' then nb = '0' end
redis.call('HSET', ik, 'l', 0, 'lu', '', 'e', ARGV[3], 'pd', ARGV[6], 'nb', nb)
if ARGV[5] == '1' and h[3] ~= '1' then
  redis.call('HSET', ik, 'dead', 1)
  redis.call('LREM', qkey(h[1], h[2]), 1, id)
  redis.call('ZADD', T .. 'ob:dead', tonumber(id), id)
end
refresh(h[1], h[2])
return 1
"""
)

# ARGV: T, ids... Dead items back into their target's order (never ahead of items at the
# front that are leased: their sends may be under way). Returns the number moved.
RETRY_DEAD = (
    _OUTBOX
    + """
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local ik = T .. 'ob:i:' .. id
  local h = redis.call('HMGET', ik, 'p', 'k', 'dead')
  if h[1] and h[3] == '1' then
    redis.call('HSET', ik, 'dead', 0, 'l', 0, 'lu', '', 'nb', 0)
    redis.call('ZREM', T .. 'ob:dead', id)
    local q = qkey(h[1], h[2])
    local ids = redis.call('LRANGE', q, 0, -1)
    local at = nil
    for j, other in ipairs(ids) do
      if tonumber(other) > tonumber(id) then at = j; break end
    end
    -- never ahead of a leased item at the front: its send (or its run's) may be under way
    if at == 1 then
      while at <= #ids and redis.call('HGET', T .. 'ob:i:' .. ids[at], 'l') == '1' do at = at + 1 end
    end
    if not at or at > #ids then
      redis.call('RPUSH', q, id)
    else
      redis.call('LINSERT', q, 'BEFORE', ids[at], id)
    end
    refresh(h[1], h[2])
    n = n + 1
  end
end
return n
"""
)
