-- Deliver offers to users of one partition: per (user, campaign) the at-most-once/entry check, the
-- frequency cap, and for what is pushed the user's event and the partition's outbox entry, atomically.
-- A user is offered a campaign when entering its reach: the first time, or again after being out of
-- it (not seen in it) for gap ms, up to its max per user. A broadcast item delivers only to a user
-- never given that campaign, and only if the user's position is still the one the broadcast found.
-- KEYS[1] outbox stream of the partition, KEYS[2] stats hash of the partition,
-- then per user u (1-based): KEYS[3u] offers hash, KEYS[3u+1] events stream, KEYS[3u+2] position.
-- ARGV[1] now (ms), ARGV[2] re-entry gap (ms), ARGV[3] pushes allowed per cap window,
-- ARGV[4] cap window (ms), ARGV[5] event history kept (ms), ARGV[6] outbox kept (ms),
-- then 9 per item: user index, campaign id, max per user, keep until (ms), broadcast position ms
-- ("" for an entry), event id, owner, user id, payload (JSON).
-- Returns per item: 0 not delivered, 1 delivered and pushed, 2 delivered but capped (not pushed),
-- 3 moved (a broadcast found a position that is no longer the user's last).
-- Costs are per user in Redis's one thread (a broadcast runs this for every user in reach): one
-- HMGET and one HSET per item, the counts summed here and written once per call.
local now = tonumber(ARGV[1])
local gap, cap, cap_window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- Stream ids are the server's clock: trim by it, not by the caller's.
local t = redis.call('TIME')
local server_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local history_min = tostring(math.max(0, server_ms - tonumber(ARGV[5])))
local outbox_min = tostring(math.max(0, server_ms - tonumber(ARGV[6])))
local counts = {}
local function count(cid, what)
  local key = cid .. ':' .. what
  counts[key] = (counts[key] or 0) + 1
end
local out = {}
local n_items = (#ARGV - 6) / 9
for i = 0, n_items - 1 do
  local a = 6 + i * 9
  local u = tonumber(ARGV[a + 1])
  local cid, max, keep = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local found_ms, event_id, owner, user, payload = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local offers, events, pos = KEYS[3 * u], KEYS[3 * u + 1], KEYS[3 * u + 2]
  local code = 0
  local st = redis.call('HMGET', offers, 'n:' .. cid, 's:' .. cid, '_p')
  local n = tonumber(st[1] or '0')
  if found_ms ~= '' then
    local p = redis.call('GET', pos)
    if not p or string.match(p, '[^,]*$') ~= found_ms then
      code = 3
    elseif n == 0 then
      code = 1
    end
  elseif n < max and (n == 0 or now - tonumber(st[2] or '-1') >= gap) then
    code = 1
  end
  if code == 1 then
    count(cid, 'd')
    if n == 0 then
      count(cid, 'u')
    end
    -- The cap: push times of the last window, as a space-separated list in the same hash.
    local recent = {}
    for tm in string.gmatch(st[3] or '', '%d+') do
      if now - tonumber(tm) < cap_window then
        recent[#recent + 1] = tm
      end
    end
    if #recent < cap then
      recent[#recent + 1] = ARGV[1]
      local sid = redis.call('XADD', events, 'MINID', '~', history_min, '*', 'id', event_id, 'payload', payload)
      redis.call('PEXPIRE', events, ARGV[5])
      redis.call('XADD', KEYS[1], 'MINID', '~', outbox_min, '*', 'id', event_id, 'owner', owner, 'user', user,
                 'sid', sid, 'payload', payload)
      count(cid, 'p')
    else
      code = 2
      count(cid, 'c')
    end
    redis.call('HSET', offers, 's:' .. cid, ARGV[1], 'n:' .. cid, n + 1, '_p', table.concat(recent, ' '))
  elseif code == 0 then
    redis.call('HSET', offers, 's:' .. cid, ARGV[1])
  end
  -- The state lives as long as the longest campaign it remembers (plus the re-entry gap).
  if code ~= 3 then
    local ttl = redis.call('PTTL', offers)
    if ttl < 0 or now + ttl < keep then
      redis.call('PEXPIREAT', offers, keep)
    end
  end
  out[#out + 1] = code
end
for key, n in pairs(counts) do
  redis.call('HINCRBY', KEYS[2], key, n)
end
return out
