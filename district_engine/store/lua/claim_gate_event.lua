-- Claim a gate event before deciding it, or find the answer it already has: a repeated webhook-id,
-- or a second read of the same plate on the same lane within the recent window, is the same event.
-- KEYS[1] lot:{id}:hook:<webhook-id>, KEYS[2] lot:{id}:recent:<lane>:<plate>
-- ARGV[1] how long a claim holds (ms: its decider may die), ARGV[2] the recent window (ms),
-- ARGV[3] the claimant's token (a claim is "pending:<token>": only its claimant releases it, and
-- the same claimant sending its claim again, after a late reply, still holds it)
-- Returns {'answer', bytes} (decided before), {'pending'} (being decided: ask again), {'claimed'}.
local answer = redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[2])
if answer == 'pending:' .. ARGV[3] then
  return {'claimed'}
elseif answer and string.sub(answer, 1, 7) == 'pending' then
  return {'pending'}
elseif answer then
  return {'answer', answer}
end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[3], 'PX', ARGV[1])
redis.call('SET', KEYS[2], 'pending:' .. ARGV[3], 'PX', ARGV[2])
return {'claimed'}
