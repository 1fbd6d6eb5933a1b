-- Record a refund once: the order's refunded and reversed figures, the refund, its ledger entry
-- and the running totals; atomic. The figures are the caller's (district_engine/guides/rules.py),
-- computed from the order as read: they are recorded only if the order is unchanged since.
-- KEYS[1] {gd:<op>}:orders  (hash order id -> JSON record)
-- KEYS[2] {gd:<op>}:refunds (hash refund id -> JSON record)
-- KEYS[3] {gd:<op>}:ledger  (stream: every order and refund)
-- KEYS[4] {gd:<op>}:totals  (hash: running totals per guide and per campaign)
-- ARGV[1] order id, ARGV[2] refund id, ARGV[3] the order's record read, ARGV[4] its new record,
-- ARGV[5] the refund's record, ARGV[6] n: the ledger entry's field count; then n field/value
-- pairs; then field/increment pairs of the totals.
-- Returns {'ok', refund record}; {'exists', refund record} if the refund id is recorded already
-- (the caller compares); {'stale', ''} if the order changed since read (nothing written).
local before = redis.call('HGET', KEYS[2], ARGV[2])
if before then
  return {'exists', before}
end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[3] then
  return {'stale', ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
local n = tonumber(ARGV[6])
local entry = {}
for i = 7, 6 + 2 * n do
  entry[#entry + 1] = ARGV[i]
end
redis.call('XADD', KEYS[3], '*', unpack(entry))
for i = 7 + 2 * n, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1])
end
return {'ok', ARGV[5]}
