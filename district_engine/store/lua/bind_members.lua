-- Bind members to a guide (a guide's service, or a deactivated guide's members going to its
-- successor), each only if nothing it was decided on changed since it was read: the member's
-- binding and history, and the operator's guides (their version). The rule is the caller's
-- (district_engine/guides/rules.py); this script only applies its result, atomically.
-- KEYS[1] {gd:<op>}:bind    (hash member -> "<guide id> <bound ms> <last served ms>")
-- KEYS[2] {gd:<op>}:hist    (hash member -> "<from ms>:<guide id>,...")
-- KEYS[3] {gd:<op>}:version (string: a counter; absent is '0')
-- KEYS[4] {gd:<op>}:members:<guide the members were bound to> (zset; the new guide's for a first binding)
-- KEYS[5] {gd:<op>}:members:<new guide> (zset)
-- ARGV[1] the version read; then five per member: member, binding read (''), history read (''),
-- new binding, new history
-- Returns -1 if the version changed (nothing written); else, per member, 1 (written) or 0 (its
-- binding or history changed since read: not written).
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then
  return -1
end
local out = {}
for i = 2, #ARGV, 5 do
  local member = ARGV[i]
  if (redis.call('HGET', KEYS[1], member) or '') == ARGV[i + 1]
      and (redis.call('HGET', KEYS[2], member) or '') == ARGV[i + 2] then
    redis.call('HSET', KEYS[1], member, ARGV[i + 3])
    redis.call('HSET', KEYS[2], member, ARGV[i + 4])
    redis.call('ZREM', KEYS[4], member)
    redis.call('ZADD', KEYS[5], 0, member)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
