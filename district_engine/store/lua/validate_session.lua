-- A merchant validation: free minutes added to an open session (e.g. two hours for a purchase).
-- KEYS[1] lot:{id}:s:<session>
-- ARGV[1] free minutes, ARGV[2] the validation as JSON (id, merchant, free_minutes, at)
-- Returns the session's total validation minutes, or -1 if the session is not open. Once per id:
-- a validation sent again (a client's retry, or redis-py's after a late reply) adds nothing.
local list = cjson.decode(redis.call('HGET', KEYS[1], 'validations') or '[]')
local new = cjson.decode(ARGV[2])
for _, v in ipairs(list) do
  if v.id == new.id then
    return tonumber(redis.call('HGET', KEYS[1], 'validation_minutes'))
  end
end
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then
  return -1
end
list[#list + 1] = new
redis.call('HSET', KEYS[1], 'validations', cjson.encode(list))
return redis.call('HINCRBY', KEYS[1], 'validation_minutes', tonumber(ARGV[1]))
