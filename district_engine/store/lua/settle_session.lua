-- An unpaid session's charge went through later: book it, once.
-- KEYS[1] lot:{id}:s:<session>, KEYS[2] lot:{id}:ledger
-- ARGV[1] session id, ARGV[2] gateway name
-- Returns the cents booked by this call (0 if it was not unpaid, or staff are deciding it).
if redis.call('HGET', KEYS[1], 'state') ~= 'unpaid' or redis.call('HEXISTS', KEYS[1], 'review') == 1 then
  return 0
end
local fee = redis.call('HGET', KEYS[1], 'fee_cents')
redis.call('HSET', KEYS[1], 'state', 'paid', 'charged_cents', fee)
redis.call('HDEL', KEYS[1], 'payment_token')  -- no longer needed: not kept
redis.call('XADD', KEYS[2], '*', 'type', 'charge', 'session', ARGV[1], 'amount', fee, 'gateway', ARGV[2])
return tonumber(fee)
