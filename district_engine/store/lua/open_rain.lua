-- Open a rain whose packets are all in its list: the funding ledger entry and the meta hash (until
-- it exists the rain does not), once. A resend after a timeout finds the meta and does nothing.
-- KEYS[1] rain:{id}:meta, KEYS[2] rain:{id}:packets, KEYS[3] rain:{id}:ledger
-- ARGV[1] starts (ms), ARGV[2] ends (ms), ARGV[3] total (cents), ARGV[4] packets, ARGV[5] per-user limit
-- Returns 1 if it opened the rain, 0 if it was open already, -1 if the list does not hold the packets.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[4]) then
  return -1
end
redis.call('XADD', KEYS[3], '*', 'type', 'fund', 'amount', ARGV[3], 'packets', ARGV[4])
redis.call('HSET', KEYS[1], 'starts_ms', ARGV[1], 'ends_ms', ARGV[2], 'total_cents', ARGV[3], 'packets', ARGV[4],
           'won_cents', 0, 'won_packets', 0, 'remaining_cents', ARGV[3], 'refunded_cents', 0, 'state', 'open',
           'per_user_limit', ARGV[5])
return 1
