-- Put a session on its lot's review list, once: staff charge, reduce or waive it
-- (resolve_session.lua). An open session (the car is at the exit gate) keeps its state and gets
-- what the exit found (fee, time, the account bound then); an unpaid one (its charge declined too
-- often) keeps its own.
-- KEYS[1] lot:{id}:s:<session>, KEYS[2] lot:{id}:review (stream: the lot's one review list)
-- ARGV[1] reason (fee_above_cap | exit_before_entry | charge_declined | no_payer), ARGV[2] session id,
-- ARGV[3] now (RFC 3339), ARGV[4] JSON object of session fields to set (an open session's exit),
-- ARGV[5] the review entry's fee text ('' if unknown)
-- Returns {'review', entry id} (put on the list now), {'already', entry id}, or {'no', state}:
-- not open or unpaid, so nothing for staff to decide.
local s = redis.call('HMGET', KEYS[1], 'state', 'review_entry', 'plate')
if s[2] then
  return {'already', s[2]}
end
if s[1] ~= 'open' and s[1] ~= 'unpaid' then
  return {'no', s[1] or 'missing'}
end
if s[1] == 'open' then
  for k, v in pairs(cjson.decode(ARGV[4])) do
    redis.call('HSET', KEYS[1], k, v)
  end
end
local id = redis.call('XADD', KEYS[2], '*', 'reason', ARGV[1], 'session_id', ARGV[2], 'plate', s[3],
                      'fee_cents', ARGV[5], 'at', ARGV[3])
redis.call('HSET', KEYS[1], 'review', ARGV[1], 'review_entry', id)
return {'review', id}
