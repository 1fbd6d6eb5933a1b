-- Keep the 2xx answer of a request run under an Idempotency-Key, for its retries.
-- KEYS[1] idem:{<sha256 of principal and key>}
-- ARGV[1] the run's token, ARGV[2] the request's fingerprint, ARGV[3] status, ARGV[4] content type,
-- ARGV[5] body (encrypted), ARGV[6] how long it is kept (ms)
-- Returns 1 if kept; 0 if another run holds the key now (this one outlived its claim, and the
-- other, which answers the same object, keeps its own answer) or an answer is there already.
local held = redis.call('HMGET', KEYS[1], 'state', 'token')
if held[1] == 'done' or (held[1] and held[2] ~= ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'state', 'done', 'status', ARGV[3], 'ctype', ARGV[4], 'body', ARGV[5])
redis.call('HDEL', KEYS[1], 'token')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
