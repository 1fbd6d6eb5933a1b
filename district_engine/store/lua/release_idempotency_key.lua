-- Give up the claim of a request that did not answer 2xx: nothing is kept, a retry runs again.
-- KEYS[1] idem:{<sha256 of principal and key>}
-- ARGV[1] the run's token (a claim taken over by another run after this one's expired stays)
-- Returns 1 if released, 0 if the key held no claim of this run.
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'pending' then
  return redis.call('DEL', KEYS[1])
end
return 0
