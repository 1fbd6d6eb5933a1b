-- Claim up to n members of a sorted set of timed work that are due, for a lease: each claimed
-- member's score moves to now + lease, so it comes back by itself if its claimer dies.
-- KEYS[1] the sorted set (member: the work, score: when due, ms)
-- ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] n
-- Returns the claimed members; their score is now + lease (the claimer's receipt).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, m in ipairs(due) do
  redis.call('ZADD', KEYS[1], until_ms, m)
end
return due
