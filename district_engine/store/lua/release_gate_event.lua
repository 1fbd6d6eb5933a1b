-- Give up a claimed gate event: refused (bad input), or Redis failed while it was decided. Only the
-- claimant's own claims go (an answer written meanwhile, or another claimant's claim, stays).
-- KEYS[1] lot:{id}:hook:<webhook-id>, KEYS[2] lot:{id}:recent:<lane>:<plate>
-- ARGV[1] the claimant's token
-- Returns how many claims were released.
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == 'pending:' .. ARGV[1] then
    n = n + redis.call('DEL', k)
  end
end
return n
