-- Create or change one guide of an operator: its record, the operator's and its district's guide
-- lists and, once it is deactivated, the inactive guides' hash; a change that can change an
-- attribution (a rate, a deactivation) bumps the version, so that an order or a service computed
-- from what was read before it is computed again.
-- KEYS[1] {gd:<op>}:guides    (hash guide id -> JSON record)
-- KEYS[2] {gd:<op>}:guide_ids (zset, score 0: every guide id)
-- KEYS[3] {gd:<op>}:district:<district id> (zset, score 0: the district's guide ids)
-- KEYS[4] {gd:<op>}:version   (string: a counter)
-- KEYS[5] {gd:<op>}:inactive  (hash guide id -> "<deactivated ms> <transfer to>")
-- ARGV[1] guide id, ARGV[2] the record read ('': none, a creation), ARGV[3] the new record,
-- ARGV[4] '1' to bump the version, ARGV[5] the guide's inactive entry ('': none), ARGV[6] the
-- version read ('': not checked)
-- Returns {'ok', record}; {'exists', record} for a creation of an id already there (an earlier run of
-- the same request, whose answer was lost); {'stale', record or ''} if the record (or the version)
-- changed since read.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if current then
    return {'exists', current}
  end
elseif current ~= ARGV[2] or (ARGV[6] ~= '' and (redis.call('GET', KEYS[4]) or '0') ~= ARGV[6]) then
  return {'stale', current or ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
if ARGV[4] == '1' then
  redis.call('INCR', KEYS[4])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
end
return {'ok', ARGV[3]}
