-- One atomic step of a partition (see apply.go).
-- KEYS[1]: the partition's offsets hash; KEYS[2..]: every key the step touches.
-- ARGV[1] topic, ARGV[2] the offset the step starts from ('' = none stored),
-- ARGV[3] the offset to store, ARGV[4] the number of checks c, then c triples
-- (key index, field, expected value; '' = absent), then the writes, each
-- (command, key index, argument count, arguments...).
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
  RPUSH = true, LTRIM = true, SET = true, HINCRBY0 = true}
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
  else
    redis.call(op, key, unpack(args))
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'OK', ''}
