-- A vehicle leaves: close its open session, priced by the caller, in one step with the ledger and
-- with the gate's answer, so that a gate sending its event again (its first answer lost) gets this
-- answer, never a second decision that finds the session closed. The account charged (or to be
-- charged later) is kept on the session: a debt is owed by whoever was bound when the car left.
-- KEYS[1] lot:{id}:meta, KEYS[2] lot:{id}:open, KEYS[3] lot:{id}:s:<session>, KEYS[4] lot:{id}:ledger,
-- KEYS[5] lot:{id}:review (the session's review entry, if it had one, is done with),
-- KEYS[6] lot:{id}:hook:<webhook-id>, KEYS[7] lot:{id}:recent:<lane>:<type>:<plate> (the event's claims;
-- both absent when staff close a session paid at the gate)
-- ARGV[1] session id, ARGV[2] exited_at (RFC 3339), ARGV[3] fee (cents), ARGV[4] charged (cents),
-- ARGV[5] state: paid (charged, or nothing to pay) | unpaid (the car left; charge again later),
-- ARGV[6] gateway name, ARGV[7] the plate read at the exit, ARGV[8] the gate's answer if it closes,
-- ARGV[9] how long the answer is kept for the webhook-id (ms), ARGV[10] for the lane and plate (ms),
-- ARGV[11] the payer's user id, ARGV[12] its payment token ('' and '': no account was charged)
-- Returns {'closed', state} or {'not_open', its state}: a session closes once, whoever asks twice.
local state = redis.call('HGET', KEYS[3], 'state')
if state ~= 'open' then
  return {'not_open', state or 'missing'}
end
local plate = redis.call('HGET', KEYS[3], 'plate')
redis.call('HSET', KEYS[3], 'state', ARGV[5], 'exited_at', ARGV[2], 'fee_cents', ARGV[3],
           'charged_cents', ARGV[4], 'exit_plate', ARGV[7])
if ARGV[11] ~= '' then
  redis.call('HSET', KEYS[3], 'payer_user', ARGV[11])
end
if ARGV[5] == 'unpaid' then  -- the token is kept only while it is still needed
  redis.call('HSET', KEYS[3], 'payment_token', ARGV[12])
end
local entry = redis.call('HGET', KEYS[3], 'review_entry')
if entry then  -- e.g. paid at the gate after a fee above the lot's cap
  redis.call('XDEL', KEYS[5], entry)
  redis.call('HDEL', KEYS[3], 'review', 'review_entry')
end
redis.call('HDEL', KEYS[2], plate)
redis.call('HINCRBY', KEYS[1], 'occupied', -1)
if tonumber(ARGV[4]) > 0 then
  redis.call('XADD', KEYS[4], '*', 'type', 'charge', 'session', ARGV[1], 'amount', ARGV[4], 'gateway', ARGV[6])
end
if ARGV[5] == 'unpaid' then
  redis.call('XADD', KEYS[4], '*', 'type', 'unpaid', 'session', ARGV[1], 'amount', ARGV[3], 'gateway', ARGV[6])
end
if KEYS[6] then  -- a gate's exit (staff closing a session paid at the gate is no gate event)
  redis.call('SET', KEYS[6], ARGV[8], 'PX', ARGV[9])
  redis.call('SET', KEYS[7], ARGV[8], 'PX', ARGV[10])
end
return {'closed', ARGV[5]}
