-- Deliver offers to users, and record their positions: per (user, campaign) the at-most-once/entry
-- check, the frequency cap, and for what is pushed the user's event and its partition's outbox
-- entry, atomically. On a Cluster every call holds users of one partition (one slot); on a single
-- server, of any number of partitions.
-- A user is offered a campaign when entering its reach: the first time, or again after being out of
-- it (not seen in it) for gap ms, up to its max per user. A broadcast item delivers only to a user
-- never given that campaign, and only if the user's position is still the one the broadcast found.
--
-- KEYS: per partition of the call, its outbox stream and its stats hash; then per user section:
-- offers hash, events stream, position, and the position's cell hash when one is recorded.
-- ARGV: now (ms), re-entry gap (ms), pushes allowed per cap window, cap window (ms), event history
-- kept (ms), outbox kept (ms), position TTL (ms), the timestamp of the events (a JSON string),
-- event id prefix, the jump rule's window (ms), slack (m) and speed (m per ms), the number of this
-- call's first event id, the number of partitions, then the offerings:
--   a count, then 5 each: campaign id, owner, max per user, keep state until (ms), and the event's
--   template: five pieces around its id, timestamp, user id and distance, joined by \x1f
--   (delivery/events.py; JSON text never holds it raw), split only when the offering is pushed;
-- then the user sections, each: item count, partition (its number in this call, 1-based), user
-- id, what fills the event's user hole (events.user_json), position ("lat,lng,ms", "" for none), the cell hash's expiry
-- (ms); then 4 per item: offering number (1-based), distance (a JSON number), broadcast
-- position ms ("" for an entry), the request's id ("" for none).
-- Item i of the call (0-based, in order) has event id prefix .. %08x(first + i).
-- Returns {per item, in order: 0 not delivered, 1 delivered and pushed, 2 delivered but capped (not
-- pushed), 3 moved (a broadcast found a position that is no longer the user's last); the numbers
-- (1-based) of the user sections whose position jumped}.
--
-- The jump rule (identity/trust.py is the reference; tests compare the two): a new position is
-- refused when the user's last one (this key, written only by trusted positions) is at most the
-- window old and the distance beyond the slack exceeds speed x time. The distance here is the
-- chord between the two points on the WGS-84 ellipsoid (ECEF), within 3.5 m of the geodesic at
-- any distance the window allows (150 km). A refused position is not recorded and its items are
-- not delivered: it counts as no presence.
--
-- A request id makes a location update safe to send again (its answer lost to a timeout, a 503):
-- an item whose campaign was delivered by the same request id is answered 1 again, and nothing is
-- pushed, counted or written for it a second time.
--
-- A user's offers hash holds one field per campaign, c:<id> -> "<times delivered> <last seen in
-- reach, ms>[ <id of the request that last delivered it>]", g:<id> -> when it was last delivered
-- (ms; orders are attributed to campaigns by it, district_engine/guides), with _p (push times of
-- the cap window) and _e (the expiry last set).
-- Costs, in Redis's one thread: per user one HMGET and one HSET of all its campaigns (an expiry
-- only when it grows), and for a position a SET and an HSET (an expiry only for a new entry);
-- per push two XADDs; per partition one HMGET and one HSET of the counts that moved, one per
-- delivery. A repeat ping (nothing new, same cell) is four commands whatever its number of
-- campaigns. Counts per campaign in the stats hash: <id>:p pushed, :h held back by the cap, :r
-- delivered again to a user who had it (delivered = p + h, users = delivered - r).
local now = tonumber(ARGV[1])
local gap, cap, cap_window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local history_ms, position_ttl = ARGV[5], ARGV[7]
local ts, id_prefix, id_next = ARGV[8], ARGV[9], tonumber(ARGV[13])
local jump_window, jump_slack, jump_speed = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
-- Stream ids are the server's clock: trim by it, not by the caller's.
local t = redis.call('TIME')
local server_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local history_min = tostring(math.max(0, server_ms - tonumber(history_ms)))
local outbox_min = tostring(math.max(0, server_ms - tonumber(ARGV[6])))

local n_partitions = tonumber(ARGV[14])
local offerings = {}
local a = 15
for j = 1, tonumber(ARGV[a]) do
  local o = a + (j - 1) * 5
  offerings[j] = {cid = ARGV[o + 1], owner = ARGV[o + 2], max = tonumber(ARGV[o + 3]), keep = tonumber(ARGV[o + 4]),
                  template = ARGV[o + 5]}
end
a = a + #offerings * 5 + 1

-- The five pieces of an offering's template, split the first time it is pushed.
local function pieces(o)
  if not o.t then
    local t, from, s = {}, 1, o.template
    for i = 1, 4 do
      local at = string.find(s, '\031', from, true)
      t[i] = string.sub(s, from, at - 1)
      from = at + 1
    end
    t[5] = string.sub(s, from)
    o.t = t
  end
  return o.t
end

-- ECEF (m) of a "lat,lng,ms" position on the WGS-84 ellipsoid, and its ms.
local function ecef(position)
  local lat, lng, ms = string.match(position, '^([^,]+),([^,]+),([^,]+)')
  local phi, lam = math.rad(tonumber(lat)), math.rad(tonumber(lng))
  local s = math.sin(phi)
  local n = 6378137.0 / math.sqrt(1 - 6.69437999014e-3 * s * s)
  return n * math.cos(phi) * math.cos(lam), n * math.cos(phi) * math.sin(lam), n * (1 - 6.69437999014e-3) * s,
         tonumber(ms)
end

-- Whether a new position jumped from the user's last recorded one.
local function jumped(pos, position)
  if jump_window <= 0 then
    return false
  end
  local last = redis.call('GET', pos)
  if not last then
    return false
  end
  local x0, y0, z0, ms0 = ecef(last)
  local x1, y1, z1 = ecef(position)
  local dt = now - ms0
  if dt > jump_window then
    return false
  end
  local beyond = math.sqrt((x1 - x0) ^ 2 + (y1 - y0) ^ 2 + (z1 - z0) ^ 2) - jump_slack
  return beyond > 0 and beyond > jump_speed * math.max(0, dt)
end

local counts = {}  -- per partition: '<campaign>:<count>' -> increment
for p = 1, n_partitions do
  counts[p] = {}
end
local function count(counted, cid, what)
  local key = cid .. ':' .. what
  counted[key] = (counted[key] or 0) + 1
end

local out, refused = {}, {}
local section = 0
local k = 2 * n_partitions + 1
while a <= #ARGV do
  section = section + 1
  local n_items, partition, user, user_json = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  local position, cell_expire = ARGV[a + 4], ARGV[a + 5]
  local offers, events, pos, outbox = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[2 * partition - 1]
  local counted = counts[partition]
  local cell = nil
  k = k + 3
  if position ~= '' then
    cell = KEYS[k]
    k = k + 1
  end
  a = a + 6
  if cell and jumped(pos, position) then
    refused[#refused + 1] = section
    cell = nil
    for i = 1, n_items do
      out[#out + 1] = 0
    end
    a = a + 4 * n_items
    id_next = id_next + n_items
    n_items = 0
  end
  if n_items > 0 then
    -- One read of every campaign's state, kept here as items are decided (a user can hold two
    -- items of one campaign: two updates in one batch), one write at the end.
    local fields, cids = {}, {}
    for i = 1, n_items do
      local cid = offerings[tonumber(ARGV[a + 4 * i - 4])].cid
      cids[i], fields[i] = cid, 'c:' .. cid
    end
    fields[n_items + 1], fields[n_items + 2] = '_p', '_e'
    local st = redis.call('HMGET', offers, unpack(fields))
    local given, seen, by, changed = {}, {}, {}, {}  -- by: the request that last delivered it
    local gifted = {}  -- campaigns delivered by this call: their g: field is now
    for i = 1, n_items do
      local cid, v = cids[i], st[i]
      if given[cid] == nil then
        if v then
          local n_s, seen_s, by_s = string.match(v, '^(%d+) (%-?%d+) ?(.*)$')
          given[cid], seen[cid] = tonumber(n_s), tonumber(seen_s)
          if by_s ~= '' then
            by[cid] = by_s
          end
        else
          given[cid], seen[cid] = 0, -1
        end
      end
    end
    -- The cap: push times of the last window, as a space-separated list in the same hash.
    local recent = {}
    for tm in string.gmatch(st[n_items + 1] or '', '%d+') do
      if now - tonumber(tm) < cap_window then
        recent[#recent + 1] = tm
      end
    end
    local last_pos, delivered, pushed, keep = false, false, false, 0
    for i = 0, n_items - 1 do
      local o = offerings[tonumber(ARGV[a])]
      local distance, found_ms, request = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
      a = a + 4
      local cid = o.cid
      local n = given[cid]
      local code = 0
      local again = request ~= '' and by[cid] == request
      if again then
        code = 1  -- this very request delivered it: the same answer, nothing a second time
      elseif found_ms ~= '' then
        if last_pos == false then
          last_pos = redis.call('GET', pos)
        end
        if not last_pos or string.match(last_pos, '[^,]*$') ~= found_ms then
          code = 3
        elseif n == 0 then
          code = 1
        end
      elseif n < o.max and (n == 0 or now - seen[cid] >= gap) then
        code = 1
      end
      if code == 1 and not again then
        if request ~= '' then
          by[cid] = request
        end
        if n > 0 then
          count(counted, cid, 'r')
        end
        if #recent < cap then
          recent[#recent + 1] = ARGV[1]
          local event_id = id_prefix .. string.format('%08x', id_next)
          local t = pieces(o)
          local payload = t[1] .. '"' .. event_id .. '"' .. t[2] .. ts .. t[3] .. user_json .. t[4] .. distance .. t[5]
          local sid = redis.call('XADD', events, 'MINID', '~', history_min, '*', 'id', event_id, 'payload', payload)
          redis.call('XADD', outbox, 'MINID', '~', outbox_min, '*', 'id', event_id, 'owner', o.owner, 'user', user,
                     'sid', sid, 'payload', payload)
          pushed = true
          count(counted, cid, 'p')
        else
          code = 2
          count(counted, cid, 'h')
        end
        given[cid] = n + 1
        gifted[cid] = true
        delivered = true
      end
      if code ~= 3 then
        seen[cid] = now
        changed[cid] = true
        if o.keep > keep then
          keep = o.keep
        end
      end
      id_next = id_next + 1
      out[#out + 1] = code
    end
    local write = {}
    for cid in pairs(changed) do
      write[#write + 1] = 'c:' .. cid
      write[#write + 1] = given[cid] .. ' ' .. ARGV[1] .. (by[cid] and (' ' .. by[cid]) or '')
    end
    for cid in pairs(gifted) do
      write[#write + 1] = 'g:' .. cid
      write[#write + 1] = ARGV[1]
    end
    if delivered then
      write[#write + 1] = '_p'
      write[#write + 1] = table.concat(recent, ' ')
    end
    if #write > 0 then
      -- The state lives as long as the longest campaign it remembers (plus the re-entry gap, or
      -- its attribution window); _e is the expiry last set, so the key's TTL need not be asked.
      if keep > tonumber(st[n_items + 2] or '0') then
        write[#write + 1] = '_e'
        write[#write + 1] = keep
        redis.call('HSET', offers, unpack(write))
        redis.call('PEXPIREAT', offers, keep)
      else
        redis.call('HSET', offers, unpack(write))
      end
    end
    if pushed then
      redis.call('PEXPIRE', events, history_ms)
    end
  end
  if cell then
    redis.call('SET', pos, position, 'PX', position_ttl)
    -- A user already in this cell's bucket: the hash was made, and its expiry set, before.
    if redis.call('HSET', cell, user, position) == 1 then
      redis.call('PEXPIREAT', cell, cell_expire)
    end
  end
end
-- The counts: one read and one write per partition, not one HINCRBY per count that moved (a first
-- contact with 40 campaigns in reach moves 40).
for p = 1, n_partitions do
  local fields, adds = {}, {}
  for key, n in pairs(counts[p]) do
    fields[#fields + 1] = key
    adds[#adds + 1] = n
  end
  if #fields > 0 then
    local have = redis.call('HMGET', KEYS[2 * p], unpack(fields))
    local write = {}
    for i = 1, #fields do
      write[2 * i - 1], write[2 * i] = fields[i], (tonumber(have[i]) or 0) + adds[i]
    end
    redis.call('HSET', KEYS[2 * p], unpack(write))
  end
end
return {out, refused}
