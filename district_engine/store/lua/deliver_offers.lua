-- Deliver offers to users and record their positions: per (user, campaign) the entry rule, the
-- caps, and for what is pushed the user's event and its partition's outbox entry, atomically. On a
-- Cluster every call holds users of one partition (one slot); on a single server, of any number.
-- campaigns/delivery_rule.py is the reference of the entry, re-entry, cap and broadcast rule, and
-- identity/trust.py of the jump rule; tests run random histories through both.
--
-- KEYS: per partition of the call (its number p in this call, 1-based): KEYS[2p-1] its outbox
--   (stream), KEYS[2p] its stats (hash); then per user section, in order: the user's offers
--   (hash), events (stream) and position (string), and the position's cell (hash) when the section
--   has a position (keys.user_keys, keys.position_cell).
-- ARGV[1]: one JSON object (the fields are named in DeliveryStore._call, store/deliveries.py):
--   now_ms, reentry_gap_ms, pushes_per_window, cap_window_ms, history_ms (events kept),
--   outbox_keep_ms, position_ttl_ms;
--   timestamp: the events' timestamp as JSON text (a quoted string);
--   event_id_prefix, first_event: item i of the call (0-based, in order) has the event id
--     event_id_prefix .. %08x(first_event + i);
--   jump: {window_ms, slack_m, speed_m_per_ms} (a window of 0: no jump rule);
--   partitions: how many partitions the call holds;
--   offerings: [{campaign_id, owner, max_per_user, keep_until_ms, template}], the template being
--     the event in five pieces around its id, timestamp, user and distance, joined by \x1f
--     (delivery/events.py; JSON text never holds it raw), split only when the offering is pushed;
--   users: [{partition (1-based, as in KEYS), user_id, user_json (what fills the event's user
--     hole; absent when no items), position ("lat,lng,ms"; absent: none to record),
--     cell_expire_ms (with a position), items: [{offering (1-based), distance_json (JSON text),
--     found_ms (a broadcast's: the time of the position it found; absent for an entry),
--     request_id (absent: none)}]}].
-- Returns {per item, in order: 0 not delivered, 1 delivered and pushed, 2 delivered but capped (not
-- pushed), 3 moved (a broadcast found a position that is no longer the user's last); the numbers
-- (1-based) of the user sections whose position jumped}.
--
-- The rule per (user, campaign): offered on entering its reach, the first time or again after being
-- out of it (not seen in it) for reentry_gap_ms, while delivered fewer than max_per_user times. A
-- delivery is pushed while the user had fewer than pushes_per_window pushes (all campaigns) in the
-- last cap_window_ms, else held back (delivered, not pushed). A broadcast item delivers only to a
-- user never given the campaign, and only if the user's last position is still the one found.
--
-- The jump rule: a new position is refused when the user's last one (the position key, written
-- only by trusted positions) is at most the window old and the distance beyond the slack exceeds
-- speed x time. The distance here is the chord between the two points on the WGS-84 ellipsoid
-- (ECEF), within 3.5 m of the geodesic at any distance the window allows (150 km). A refused
-- position is not recorded and its items are not delivered: it counts as no presence.
--
-- A request id makes a location update safe to send again (its answer lost to a timeout, a 503):
-- an item whose campaign was delivered by the same request id is answered 1 again, and nothing is
-- pushed, counted or written for it a second time.
--
-- A user's offers hash holds c:<id> -> "<times delivered> <last seen in reach, ms>[ <id of the
-- request that last delivered it>]", g:<id> -> when it was last delivered (ms; orders are
-- attributed to campaigns by it, district_engine/guides), _p (push times of the cap window) and
-- _e (the expiry last set).
-- Costs, in Redis's one thread: per user one HMGET and one HSET of all its campaigns (an expiry
-- only when it grows), and for a position a SET and an HSET (an expiry only for a new entry);
-- per push two XADDs; per partition one HMGET and one HSET of the counts that moved. A repeat ping
-- (nothing new, same cell) is four commands whatever its number of campaigns. Counts per campaign
-- in the stats hash: <id>:p pushed, :h held back by the cap, :r delivered again to a user who had
-- it (delivered = p + h, users = delivered - r).
local call = cjson.decode(ARGV[1])
local now = call.now_ms
local now_s = string.format('%d', now)
local gap, cap, cap_window = call.reentry_gap_ms, call.pushes_per_window, call.cap_window_ms
local history_ms, position_ttl = call.history_ms, call.position_ttl_ms
local ts, id_prefix, id_next = call.timestamp, call.event_id_prefix, call.first_event
local jump_window, jump_slack, jump_speed = call.jump.window_ms, call.jump.slack_m, call.jump.speed_m_per_ms
local offerings = call.offerings
-- Stream ids are the server's clock: trim by it, not by the caller's.
local t = redis.call('TIME')
local server_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local history_min = string.format('%d', math.max(0, server_ms - history_ms))
local outbox_min = string.format('%d', math.max(0, server_ms - call.outbox_keep_ms))

-- The five pieces of an offering's template, split the first time it is pushed.
local function pieces(o)
  if not o.pieces then
    local p, from, s = {}, 1, o.template
    for i = 1, 4 do
      local at = string.find(s, '\031', from, true)
      p[i] = string.sub(s, from, at - 1)
      from = at + 1
    end
    p[5] = string.sub(s, from)
    o.pieces = p
  end
  return o.pieces
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
for p = 1, call.partitions do
  counts[p] = {}
end
local function count(counted, cid, what)
  local key = cid .. ':' .. what
  counted[key] = (counted[key] or 0) + 1
end

local out, refused = {}, {}
local k = 2 * call.partitions + 1
for section, u in ipairs(call.users) do
  local items, user, position = u.items, u.user_id, u.position
  local n_items = #items
  local offers, events, pos, outbox = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[2 * u.partition - 1]
  local counted = counts[u.partition]
  local cell = nil
  k = k + 3
  if position then
    cell = KEYS[k]
    k = k + 1
  end
  if cell and jumped(pos, position) then
    refused[#refused + 1] = section
    cell = nil
    for i = 1, n_items do
      out[#out + 1] = 0
    end
    id_next = id_next + n_items
    n_items = 0
  end
  if n_items > 0 then
    -- One read of every campaign's state, kept here as items are decided (a user can hold two
    -- items of one campaign: two updates in one batch), one write at the end.
    local fields, cids = {}, {}
    for i = 1, n_items do
      local cid = offerings[items[i].offering].campaign_id
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
          local n_s, seen_s, by_s = string.match(v, '^(%d+) (%d+) ?(.*)$')
          given[cid], seen[cid] = tonumber(n_s), tonumber(seen_s)
          if by_s ~= '' then
            by[cid] = by_s
          end
        else
          given[cid] = 0
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
    for i = 1, n_items do
      local item = items[i]
      local o = offerings[item.offering]
      local request, found_ms = item.request_id, item.found_ms
      local cid = o.campaign_id
      local n = given[cid]
      local code = 0
      local again = request ~= nil and by[cid] == request
      if again then
        code = 1  -- this very request delivered it: the same answer, nothing a second time
      elseif found_ms then
        if last_pos == false then
          last_pos = redis.call('GET', pos)
        end
        if not last_pos or tonumber(string.match(last_pos, '[^,]*$')) ~= found_ms then
          code = 3
        elseif n == 0 then
          code = 1
        end
      elseif n < o.max_per_user and (n == 0 or now - seen[cid] >= gap) then
        code = 1
      end
      if code == 1 and not again then
        if request then
          by[cid] = request
        end
        if n > 0 then
          count(counted, cid, 'r')
        end
        if #recent < cap then
          recent[#recent + 1] = now_s
          local event_id = id_prefix .. string.format('%08x', id_next)
          local p = pieces(o)
          local payload = p[1] .. '"' .. event_id .. '"' .. p[2] .. ts .. p[3] .. u.user_json .. p[4] ..
                          item.distance_json .. p[5]
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
        if o.keep_until_ms > keep then
          keep = o.keep_until_ms
        end
      end
      id_next = id_next + 1
      out[#out + 1] = code
    end
    local write = {}
    for cid in pairs(changed) do
      write[#write + 1] = 'c:' .. cid
      write[#write + 1] = given[cid] .. ' ' .. now_s .. (by[cid] and (' ' .. by[cid]) or '')
    end
    for cid in pairs(gifted) do
      write[#write + 1] = 'g:' .. cid
      write[#write + 1] = now_s
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
        write[#write + 1] = string.format('%d', keep)
        redis.call('HSET', offers, unpack(write))
        redis.call('PEXPIREAT', offers, string.format('%d', keep))
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
      redis.call('PEXPIREAT', cell, u.cell_expire_ms)
    end
  end
end
-- The counts: one read and one write per partition, not one HINCRBY per count that moved (a first
-- contact with 40 campaigns in reach moves 40).
for p = 1, call.partitions do
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
