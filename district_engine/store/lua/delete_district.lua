-- Delete a district if this operator owns it.
-- KEYS[1] district hash (district:{id})
-- ARGV[1] owner operator id
-- Returns 1 deleted, 0 no such district of this owner (another owner's looks absent).
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
