-- Record an order once, with its attribution, its ledger entry and the running totals; atomic.
-- The attribution is the caller's (district_engine/guides/rules.py), decided on the member's
-- binding history and the operator's guides as read: it is recorded only if neither changed since.
-- KEYS[1] {gd:<op>}:orders  (hash order id -> JSON record)
-- KEYS[2] {gd:<op>}:hist    (hash member -> "<from ms>:<guide id>,...")
-- KEYS[3] {gd:<op>}:version (string: a counter; absent is '0')
-- KEYS[4] {gd:<op>}:ledger  (stream: every order and refund)
-- KEYS[5] {gd:<op>}:totals  (hash: running totals per guide and per campaign)
-- KEYS[6] {gd:<op>}:guide-orders:<guide id> (zset order id -> the order's time, ms; untouched
--         when the order has no guide)
-- ARGV[1] order id, ARGV[2] member, ARGV[3] history read (''), ARGV[4] version read, ARGV[5] the
-- record, ARGV[6] the order's time (ms), ARGV[7] '1' if the order has a guide, ARGV[8] n: the
-- ledger entry's field count; then n field/value pairs; then field/increment pairs of the totals.
-- Returns {'ok', record}; {'exists', record} if the order id is recorded already (the same order
-- sent again, or another with its id: the caller compares); {'stale', ''} if what it was decided
-- on changed (nothing written: decide again).
local before = redis.call('HGET', KEYS[1], ARGV[1])
if before then
  return {'exists', before}
end
if (redis.call('HGET', KEYS[2], ARGV[2]) or '') ~= ARGV[3] or (redis.call('GET', KEYS[3]) or '0') ~= ARGV[4] then
  return {'stale', ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
end
local n = tonumber(ARGV[8])
local entry = {}
for i = 9, 8 + 2 * n do
  entry[#entry + 1] = ARGV[i]
end
redis.call('XADD', KEYS[4], '*', unpack(entry))
for i = 9 + 2 * n, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1])
end
return {'ok', ARGV[5]}
