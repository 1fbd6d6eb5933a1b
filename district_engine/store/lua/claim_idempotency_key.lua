-- Claim an Idempotency-Key for a request about to run, or find what the key already holds.
-- KEYS[1] idem:{<sha256 of principal and key>}
-- ARGV[1] the request's fingerprint (keyed hash), ARGV[2] this run's token, ARGV[3] how long a claim
-- holds (ms: the process running it may die; the key is then free again)
-- Returns {'run'} (claimed: run it), {'reused'} (the key was used for another request),
-- {'in_flight'} (the same request is running now), {'replay', status, content type, body}.
local held = redis.call('HMGET', KEYS[1], 'fp', 'state', 'status', 'ctype', 'body', 'token')
-- This very claim sent again (redis-py resends a command whose reply came late): it is this run's.
if not held[1] or held[6] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'pending', 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'run'}
end
if held[1] ~= ARGV[1] then
  return {'reused'}
end
if held[2] == 'pending' then
  return {'in_flight'}
end
return {'replay', held[3], held[4], held[5]}
