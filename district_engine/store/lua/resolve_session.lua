-- Staff resolve a session on the review list: charge, adjust (charge less) or waive. The state
-- change, its ledger entry and the end of its review entry are one step, once per resolution id.
-- A charge through a remote gateway first claims the session for its resolution id (mode
-- 'claim'; 'release' if the charge failed), so that two staff members never both charge it.
-- KEYS[1] lot:{id}:meta, KEYS[2] lot:{id}:open, KEYS[3] lot:{id}:s:<session>, KEYS[4] lot:{id}:ledger,
-- KEYS[5] lot:{id}:review
-- ARGV[1] mode: claim | release | apply, ARGV[2] session id, ARGV[3] resolution id,
-- ARGV[4] the resolution as JSON ({id, action, amount_cents, note, at}), ARGV[5] cents charged now
-- (0: waived), ARGV[6] gateway name, ARGV[7] now (ms), ARGV[8] how long a claim holds (ms)
-- Returns {'applied', resolution}, {'done', resolution} (this id applied before), {'claimed', ''},
-- {'released', ''}, {'busy', the other resolution id} or {'not_in_review', state}.
local s = redis.call('HMGET', KEYS[3], 'state', 'review', 'review_entry', 'resolution', 'resolving',
                     'resolving_until', 'plate', 'fee_cents')
if s[4] then
  if cjson.decode(s[4]).id == ARGV[3] then
    return {'done', s[4]}
  end
  return {'not_in_review', s[1]}
end
if not s[2] then
  return {'not_in_review', s[1] or 'missing'}
end
if s[5] and s[5] ~= ARGV[3] and tonumber(s[6]) > tonumber(ARGV[7]) then
  return {'busy', s[5]}
end
if ARGV[1] == 'claim' then
  redis.call('HSET', KEYS[3], 'resolving', ARGV[3], 'resolving_until', tonumber(ARGV[7]) + tonumber(ARGV[8]))
  return {'claimed', ''}
elseif ARGV[1] == 'release' then
  if s[5] == ARGV[3] then
    redis.call('HDEL', KEYS[3], 'resolving', 'resolving_until')
  end
  return {'released', ''}
end
local amount = tonumber(ARGV[5])
if s[1] == 'open' then  -- the car was held at the gate: it leaves now
  if redis.call('HGET', KEYS[2], s[7]) == ARGV[2] then
    redis.call('HDEL', KEYS[2], s[7])
  end
  redis.call('HINCRBY', KEYS[1], 'occupied', -1)
end
redis.call('HSET', KEYS[3], 'state', amount > 0 and 'paid' or 'waived', 'charged_cents', amount,
           'resolution', ARGV[4])
redis.call('HDEL', KEYS[3], 'review', 'review_entry', 'resolving', 'resolving_until', 'payment_token')
local action = cjson.decode(ARGV[4]).action
if amount > 0 then
  redis.call('XADD', KEYS[4], '*', 'type', 'charge', 'session', ARGV[2], 'amount', amount, 'gateway', ARGV[6],
             'resolution', ARGV[3], 'action', action)
else
  redis.call('XADD', KEYS[4], '*', 'type', 'waive', 'session', ARGV[2], 'amount', s[8] or '0',
             'resolution', ARGV[3], 'action', action)
end
redis.call('XDEL', KEYS[5], s[3])
return {'applied', ARGV[4]}
