-- Give up a claimed gate event that was refused (bad input): nothing is recorded for it.
-- KEYS[1] lot:{id}:hook:<webhook-id>, KEYS[2] lot:{id}:recent:<lane>:<plate>
-- Returns how many claims were released.
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == 'pending' then
    n = n + redis.call('DEL', k)
  end
end
return n
