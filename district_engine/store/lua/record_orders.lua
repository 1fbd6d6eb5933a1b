-- Record orders, each once, with its attribution, its ledger entry and the running totals; each
-- order all or nothing on its own, in the order given (an order id twice: the second is 'exists').
-- The attributions are the caller's (district_engine/guides/rules.py), decided on each member's
-- binding history and the operator's guides as read: an order is recorded only if neither changed.
-- KEYS[1] {gd:<op>}:orders  (hash order id -> JSON record)
-- KEYS[2] {gd:<op>}:hist    (hash member -> "<from ms>:<guide id>,...")
-- KEYS[3] {gd:<op>}:version (string: a counter; absent is '0')
-- KEYS[4] {gd:<op>}:ledger  (stream: every order and refund)
-- KEYS[5] {gd:<op>}:totals  (hash: running totals per guide and per campaign)
-- KEYS[6..] {gd:<op>}:guide-orders:<guide id> (zset order id -> the order's time, ms): one per
--         guide that an order of the call has
-- ARGV[1] the guides' version read, ARGV[2] f: the ledger entries' field count, ARGV[3..2+f] their
-- field names. Then per order: order id, member, history read (''), the record, the order's time
-- (ms), its guide's key (its index in KEYS; 0: no guide), d: its totals' count; then the f values of
-- its ledger entry (in the field names' order); then d field/increment pairs of the totals.
-- Returns, per order, a status and a record: 'ok', '' (written); 'exists', the record stored (the
-- order id is recorded already: the same order again, or another with its id: the caller
-- compares); 'stale', '' (what it was decided on changed: nothing written, decide again).
local version_ok = (redis.call('GET', KEYS[3]) or '0') == ARGV[1]
local f = tonumber(ARGV[2])
local names = {}
for j = 1, f do
  names[j] = ARGV[2 + j]
end
local out = {}
local entry = {}
local i = 3 + f
while i <= #ARGV do
  local id, member, d = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 6])
  local values = i + 7
  local deltas = values + f
  local before = redis.call('HGET', KEYS[1], id)
  if before then
    out[#out + 1] = 'exists'
    out[#out + 1] = before
  elseif not version_ok or (redis.call('HGET', KEYS[2], member) or '') ~= ARGV[i + 2] then
    out[#out + 1] = 'stale'
    out[#out + 1] = ''
  else
    redis.call('HSET', KEYS[1], id, ARGV[i + 3])
    local guide_key = tonumber(ARGV[i + 5])
    if guide_key > 0 then
      redis.call('ZADD', KEYS[guide_key], ARGV[i + 4], id)
    end
    for j = 1, f do
      entry[2 * j - 1] = names[j]
      entry[2 * j] = ARGV[values + j - 1]
    end
    redis.call('XADD', KEYS[4], '*', unpack(entry))
    for j = deltas, deltas + 2 * d - 1, 2 do
      redis.call('HINCRBY', KEYS[5], ARGV[j], ARGV[j + 1])
    end
    out[#out + 1] = 'ok'
    out[#out + 1] = ''
  end
  i = deltas + 2 * d
end
return out
