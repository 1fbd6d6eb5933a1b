-- End a red-envelope rain: move what was not grabbed to refunded, exactly once.
-- KEYS[1] rain:{id}:meta, KEYS[2] rain:{id}:packets, KEYS[3] rain:{id}:ledger
-- ARGV[1] now (ms), ARGV[2] 1 to end now even before ends_ms (the operator ends it early)
-- Returns the cents refunded by this call; 0 if it had already ended; -1 if it is still running.
local meta = redis.call('HMGET', KEYS[1], 'ends_ms', 'state', 'remaining_cents')
if not meta[1] or meta[2] == 'ended' then
  return 0
end
if ARGV[2] ~= '1' and tonumber(ARGV[1]) < tonumber(meta[1]) then
  return -1
end
local left = tonumber(meta[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'ended', 'ends_ms', math.min(tonumber(meta[1]), tonumber(ARGV[1])),
           'remaining_cents', 0, 'refunded_cents', left)
redis.call('XADD', KEYS[3], '*', 'type', 'refund', 'amount', left, 'at', ARGV[1])
return left
