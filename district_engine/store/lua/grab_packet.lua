-- Grab one packet of a red-envelope rain: window check, per-user check, pop, winner, ledger; atomic.
-- KEYS[1] rain:{id}:meta    (hash: starts_ms, ends_ms, total_cents, packets, won_cents, won_packets,
--                            remaining_cents, refunded_cents, state, per_user_limit)
-- KEYS[2] rain:{id}:packets (list of amounts in cents, already shuffled)
-- KEYS[3] rain:{id}:winners (hash user -> cents won in all)
-- KEYS[4] rain:{id}:ledger  (stream: every money move)
-- KEYS[5] rain:{id}:grabs   (hash user -> packets won)
-- KEYS[6] rain:{id}:grab_ids (hash grab id -> "<user> <cents>" of each grab that won)
-- ARGV[1] user id, ARGV[2] now (ms), ARGV[3] grab id (unique per request: a grab sent again, as
-- redis-py does after a timeout whose command did run, answers what it answered and moves nothing)
-- Returns {status, amount}: status is won (amount: this packet) | already_grabbed (amount: all the
-- user won; the user has per_user_limit packets) | sold_out | not_active | no_rain.
-- The window check is inside the same atomic step as the pop, so a grab racing the end either
-- wins (it ran before ends_ms) or is not_active; end_rain.lua refunds what is left, once.
local meta = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms', 'state', 'per_user_limit')
if not meta[1] then
  return {'no_rain', 0}
end
local before = redis.call('HGET', KEYS[6], ARGV[3])
if before then
  return {'won', tonumber(string.match(before, '(%d+)$'))}
end
local now = tonumber(ARGV[2])
if now < tonumber(meta[1]) then
  return {'not_active', 0}
end
if now >= tonumber(meta[2]) or meta[3] == 'ended' then
  return {'not_active', 0}
end
local limit, had = tonumber(meta[4] or '0'), nil
if limit == 0 then  -- a rain made before per-user limits: one packet each, known by the winners hash
  limit, had = 1, redis.call('HEXISTS', KEYS[3], ARGV[1])
else
  had = tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
end
if had >= limit then
  return {'already_grabbed', tonumber(redis.call('HGET', KEYS[3], ARGV[1]))}
end
local amount = redis.call('LPOP', KEYS[2])
if not amount then
  return {'sold_out', 0}
end
redis.call('HINCRBY', KEYS[3], ARGV[1], amount)
redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], 'won_cents', amount)
redis.call('HINCRBY', KEYS[1], 'won_packets', 1)
redis.call('HINCRBY', KEYS[1], 'remaining_cents', -tonumber(amount))
redis.call('XADD', KEYS[4], '*', 'type', 'grab', 'user', ARGV[1], 'amount', amount, 'grab_id', ARGV[3], 'at', ARGV[2])
redis.call('HSET', KEYS[6], ARGV[3], ARGV[1] .. ' ' .. amount)
return {'won', tonumber(amount)}
