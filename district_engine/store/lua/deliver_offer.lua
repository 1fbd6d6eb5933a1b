-- Deliver a campaign's offer to a user in its reach, at most max times, and only on an entry:
-- the first time, or again after the user was out of reach (not seen in it) for gap_ms.
-- KEYS[1] campaign:{id}:deliveries (hash user -> times delivered)
-- KEYS[2] campaign:{id}:stats (hash: delivered)
-- KEYS[3] campaign:{id}:seen (hash user -> last time seen in reach, ms)
-- KEYS[4] campaign:{id} (the campaign itself: a deleted one delivers nothing and leaves no keys)
-- ARGV[1] user id, ARGV[2] max deliveries per user, ARGV[3] now (ms), ARGV[4] re-entry gap (ms)
-- Returns 1 delivered, 0 not.
if redis.call('EXISTS', KEYS[4]) == 0 then
  return 0
end
local last = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n >= tonumber(ARGV[2]) then
  return 0
end
if n > 0 and now - last < tonumber(ARGV[4]) then
  return 0  -- still in reach since the last delivery: not an entry
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], 'delivered', 1)
return 1
