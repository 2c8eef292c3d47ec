-- One atomic step of a partition (see apply.go).
-- KEYS[1]: the partition's offsets hash; KEYS[2..]: every key the step touches.
-- ARGV[1] topic, ARGV[2] the offset the step starts from ('' = none stored),
-- ARGV[3] the offset to store, ARGV[4] the number of checks c, then c triples
-- (key index, field, expected value; '' = absent), then the writes, each
-- (command, key index, argument count, arguments...).
-- Besides Redis commands, three writes of cdcflow's own:
--   APPLIED key (lsn, time): the partition's applied position (hash fields
--     lsn, %016X, and time, Unix ms), moved only forward (hex of one width
--     compares as a string);
--   ZSYNC key (hash index, count field, value field, member): sets the
--     member's score in the sorted set key to the hash's value field (its
--     count field when ''), or removes it when the count field is absent;
--   CHANGE key (applied index, maxlen, mode, topic, offset, views): XADD of
--     one change stream entry with the stored applied position; mode
--     'always', or 'ifmoved' (only when an APPLIED of this step moved it).
-- Replies {'OK', ''}, {'FENCED', stored offset} or {'CONFLICT', field}; a
-- refused step writes nothing.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {'FENCED', cur} end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local v = redis.call('HGET', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
  if not v then v = '' end
  if v ~= ARGV[i + 2] then return {'CONFLICT', ARGV[i + 1]} end
  i = i + 3
end
local allowed = {HSET = true, HDEL = true, DEL = true, ZADD = true, ZREM = true,
  RPUSH = true, LTRIM = true, SET = true, HINCRBY0 = true, APPLIED = true,
  ZSYNC = true, CHANGE = true}
local moved = false
local j = i
while j <= #ARGV do
  if not allowed[ARGV[j]] then return redis.error_reply('apply: command ' .. ARGV[j] .. ' not allowed') end
  j = j + 3 + tonumber(ARGV[j + 2])
end
while i <= #ARGV do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  local n = tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, n do args[j] = ARGV[i + 2 + j] end
  i = i + 3 + n
  if op == 'HINCRBY0' then
    if redis.call('HINCRBY', key, args[1], args[2]) == 0 then
      redis.call('HDEL', key, args[1])
    end
  elseif op == 'APPLIED' then
    local cur = redis.call('HGET', key, 'lsn')
    if not cur or args[1] > cur then
      redis.call('HSET', key, 'lsn', args[1], 'time', args[2])
      moved = true
    end
  elseif op == 'ZSYNC' then
    local h = KEYS[tonumber(args[1])]
    local c = redis.call('HGET', h, args[2])
    if not c then
      redis.call('ZREM', key, args[4])
    else
      if args[3] ~= '' then c = redis.call('HGET', h, args[3]) or '0' end
      redis.call('ZADD', key, c, args[4])
    end
  elseif op == 'CHANGE' then
    if args[3] == 'always' or moved then
      local a = KEYS[tonumber(args[1])]
      local l = redis.call('HGET', a, 'lsn') or '0000000000000000'
      local t = redis.call('HGET', a, 'time') or '0'
      redis.call('XADD', key, 'MAXLEN', '~', args[2], '*', 'topic', args[4],
        'offset', args[5], 'lsn', l, 'time', t, 'views', args[6])
    end
  else
    redis.call(op, key, unpack(args))
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'OK', ''}
