-- Bind a plate to a user's payment agreement, in one step: a plate bound to another user keeps its
-- binding; the same user binding again replaces its token. A binding missing a field (one a
-- two-command bind left half written) is no binding, and is replaced.
--
-- KEYS[1] the plate's binding hash. ARGV: plate, user id, payment token, bound at (RFC 3339).
-- Returns the binding that holds afterwards: {plate, user id, payment token, bound at}.
local held = redis.call('HMGET', KEYS[1], 'plate', 'user_id', 'payment_token', 'bound_at')
if held[1] and held[2] and held[3] and held[4] and held[2] ~= ARGV[2] then
  return held
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'plate', ARGV[1], 'user_id', ARGV[2], 'payment_token', ARGV[3], 'bound_at', ARGV[4])
return {ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
