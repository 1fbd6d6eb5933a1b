-- Sliding-window rate limit: at most ARGV[3] events per ARGV[2] ms for one subject.
-- KEYS[1] ratelimit:{subject} (sorted set of event ids scored by time, ms)
-- ARGV[1] now (ms), ARGV[2] window (ms), ARGV[3] limit, ARGV[4] this event's unique id
-- Returns 0 if the event is allowed (and counted), else the ms until the oldest event leaves the window.
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
