-- Deliver a campaign's offer to a user at most max times: the at-most-once (or at-most-N) check.
-- KEYS[1] campaign:{id}:deliveries (hash user -> count), KEYS[2] campaign:{id}:stats (hash)
-- ARGV[1] user id, ARGV[2] max deliveries per user, ARGV[3] 1 to deliver only if never delivered
-- Returns 1 delivered (count incremented), 0 not delivered.
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n >= tonumber(ARGV[2]) or (ARGV[3] == '1' and n > 0) then
  return 0
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], 'delivered', 1)
return 1
