-- Read when each of some users was last given each campaign's offer (the g: fields of their
-- offers hashes), for a batch of orders: one call for many users instead of a command each.
-- KEYS[1..n] users' offers hashes (push:{pNN}:u:<user>:offers), all of one partition (one slot)
-- Returns, per key in order, a flat list: campaign id, ms, campaign id, ms, ... (empty: none).
local out = {}
for i = 1, #KEYS do
  local fields = redis.call('HGETALL', KEYS[i])
  local gifts = {}
  for j = 1, #fields, 2 do
    if string.sub(fields[j], 1, 2) == 'g:' then
      gifts[#gifts + 1] = string.sub(fields[j], 3)
      gifts[#gifts + 1] = fields[j + 1]
    end
  end
  out[i] = gifts
end
return out
