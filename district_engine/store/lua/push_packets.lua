-- Append one chunk of a new rain's packets, once: a resend of a chunk that already ran (redis-py
-- sends a command again after a timeout, though the server may have run it) changes nothing.
-- KEYS[1] rain:{id}:packets, KEYS[2] rain:{id}:meta
-- ARGV[1] how many packets come before this chunk, ARGV[2..] the chunk's amounts (cents)
-- Returns the list's length after the call; -1 if the rain is open already (nothing to append).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local before = tonumber(ARGV[1])
local have = redis.call('LLEN', KEYS[1])
if have ~= before then
  return have  -- this chunk ran already (have = before + its size), or an earlier one is missing
end
for i = 2, #ARGV, 1000 do  -- unpack takes a bounded number of values
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return redis.call('LLEN', KEYS[1])
