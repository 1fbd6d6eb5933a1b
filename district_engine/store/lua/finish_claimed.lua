-- Finish claimed work: remove the member only if its score is still the claimer's receipt (a
-- newer schedule of the same work, or another claim after an expired lease, is left alone), and
-- in the same step put its follow-up, if any (a retry with its attempt count).
-- KEYS[1] the sorted set; ARGV[1] member, ARGV[2] the receipt (score when claimed),
-- ARGV[3] follow-up member or "", ARGV[4] its due time (ms)
-- Returns 1 finished, 0 left alone (and no follow-up put).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
end
return 1
