-- Add a push endpoint unless its owner has the most it may have: the count and the write in one
-- step, so that concurrent creates cannot pass the cap together.
-- KEYS[1] the endpoints hash, KEYS[2] the owner's set of endpoint ids
-- ARGV[1] endpoint id, ARGV[2] its JSON, ARGV[3] the most endpoints an owner may have
-- Returns 1 added, 0 it exists already (a create sent again), -1 the owner is at the cap.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
