-- A merchant validation: free minutes added to an open session (e.g. two hours for a purchase).
-- KEYS[1] lot:{id}:s:<session>
-- ARGV[1] free minutes, ARGV[2] the validation as JSON (merchant, free_minutes, at)
-- Returns the session's total validation minutes, or -1 if the session is not open.
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then
  return -1
end
local list = cjson.decode(redis.call('HGET', KEYS[1], 'validations') or '[]')
list[#list + 1] = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], 'validations', cjson.encode(list))
return redis.call('HINCRBY', KEYS[1], 'validation_minutes', tonumber(ARGV[1]))
