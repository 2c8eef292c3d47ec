-- One atomic step of a partition (see apply.go).
-- KEYS[1]: the partition's offsets hash; KEYS[2..]: every key the step touches.
-- ARGV[1] topic, ARGV[2] the offset the step starts from ('' = none stored),
-- ARGV[3] the offset to store, ARGV[4] the number of check groups g, then g
-- groups (key index, field count m, m fields, m expected values; '' =
-- absent), each read with one HMGET, then the writes, each (command, key
-- index, argument count, arguments...).
-- Besides Redis commands, three writes of cdcflow's own:
--   APPLIED key (topic, lsn, time, n, n topics): the applied position of
--     topic's partition (hash fields lsn:<topic>, %016X, and time:<topic>,
--     Unix ms), moved only forward (hex of one width compares as a string);
--     then the partition's applied position (fields lsn and time) becomes
--     the lowest of the n topics' (of every topic with a field when n = 0),
--     moved only forward, and only once each of them has one;
--   ZSYNC key (hash index, count field, value field, member): sets the
--     member's score in the sorted set key to the hash's value field (its
--     count field when ''), or removes it when the count field is absent;
--   CHANGE key (applied index, maxlen, mode, topic, offset, views): XADD of
--     one change stream entry with the stored applied position; mode
--     'always', or 'ifmoved' (only when an APPLIED of this step moved it).
-- Replies {'OK', ''}, {'FENCED', stored offset} or {'CONFLICT', field}; a
-- refused step writes nothing.
-- Arguments are passed to redis.call with unpack(ARGV, from, to), never
-- copied into a table of their own: the script's cost is the commands.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {'FENCED', cur} end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local m = tonumber(ARGV[i + 1])
  local f = i + 2
  local got = redis.call('HMGET', KEYS[tonumber(ARGV[i])], unpack(ARGV, f, f + m - 1))
  for k = 1, m do
    local v = got[k]
    if not v then v = '' end
    if v ~= ARGV[f + m + k - 1] then return {'CONFLICT', ARGV[f + k - 1]} end
  end
  i = f + 2 * m
end
local allowed = {HSET = true, HDEL = true, DEL = true, ZADD = true, ZREM = true,
  RPUSH = true, LTRIM = true, SET = true, HINCRBY0 = true, APPLIED = true,
  ZSYNC = true, CHANGE = true}
local last = #ARGV
local moved = false
local j = i
while j <= last do
  if not allowed[ARGV[j]] then return redis.error_reply('apply: command ' .. ARGV[j] .. ' not allowed') end
  j = j + 3 + tonumber(ARGV[j + 2])
end
while i <= last do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  local a = i + 3
  i = a + tonumber(ARGV[i + 2])
  if op == 'HINCRBY0' then
    if redis.call('HINCRBY', key, ARGV[a], ARGV[a + 1]) == 0 then
      redis.call('HDEL', key, ARGV[a])
    end
  elseif op == 'APPLIED' then
    local tlsn, ttime = 'lsn:' .. ARGV[a], 'time:' .. ARGV[a]
    local cur = redis.call('HGET', key, tlsn)
    if not cur or ARGV[a + 1] > cur then
      redis.call('HSET', key, tlsn, ARGV[a + 1], ttime, ARGV[a + 2])
    end
    local n = tonumber(ARGV[a + 3])
    local low, lowTopic = nil, nil
    if n > 0 then
      for k = a + 4, a + 3 + n do
        local l = redis.call('HGET', key, 'lsn:' .. ARGV[k])
        if not l then low = nil; lowTopic = nil; break end
        if not low or l < low then low, lowTopic = l, ARGV[k] end
      end
    else
      local all = redis.call('HGETALL', key)
      for k = 1, #all, 2 do
        local t = string.match(all[k], '^lsn:(.*)$')
        if t and (not low or all[k + 1] < low) then low, lowTopic = all[k + 1], t end
      end
    end
    if low then
      local old = redis.call('HGET', key, 'lsn')
      if not old or low > old then
        redis.call('HSET', key, 'lsn', low, 'time', redis.call('HGET', key, 'time:' .. lowTopic))
        moved = true
      end
    end
  elseif op == 'ZSYNC' then
    local h = KEYS[tonumber(ARGV[a])]
    local c = redis.call('HGET', h, ARGV[a + 1])
    if not c then
      redis.call('ZREM', key, ARGV[a + 3])
    else
      if ARGV[a + 2] ~= '' then c = redis.call('HGET', h, ARGV[a + 2]) or '0' end
      redis.call('ZADD', key, c, ARGV[a + 3])
    end
  elseif op == 'CHANGE' then
    if ARGV[a + 2] == 'always' or moved then
      local k = KEYS[tonumber(ARGV[a])]
      local l = redis.call('HGET', k, 'lsn') or '0000000000000000'
      local t = redis.call('HGET', k, 'time') or '0'
      redis.call('XADD', key, 'MAXLEN', '~', ARGV[a + 1], '*', 'topic', ARGV[a + 3],
        'offset', ARGV[a + 4], 'lsn', l, 'time', t, 'views', ARGV[a + 5])
    end
  else
    redis.call(op, key, unpack(ARGV, a, i - 1))
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'OK', ''}
