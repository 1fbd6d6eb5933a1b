-- A vehicle enters: open a session unless the plate is inside already or the lot is full.
-- KEYS[1] lot:{id}:meta (capacity, occupied), KEYS[2] lot:{id}:open (plate -> session id),
-- KEYS[3] lot:{id}:s:<new session id>
-- ARGV[1] plate, ARGV[2] new session id, ARGV[3] entered_at (RFC 3339), ARGV[4] lane, ARGV[5] confidence
-- Returns {'opened', id}, {'inside', existing id} or {'full', ''}; {'no_lot', ''} if the lot is gone.
local meta = redis.call('HMGET', KEYS[1], 'capacity', 'occupied')
if not meta[1] then
  return {'no_lot', ''}
end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then
  return {'inside', existing}
end
if tonumber(meta[2] or '0') >= tonumber(meta[1]) then
  return {'full', ''}
end
redis.call('HSET', KEYS[3], 'plate', ARGV[1], 'entered_at', ARGV[3], 'entry_lane', ARGV[4],
           'entry_confidence', ARGV[5], 'state', 'open', 'validation_minutes', 0, 'validations', '[]')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'occupied', 1)
return {'opened', ARGV[2]}
