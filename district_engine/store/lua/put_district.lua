-- Create or replace a district, unless another operator owns that id.
-- KEYS[1] district hash (district:{id})
-- ARGV[1] owner operator id, ARGV[2] GeoJSON Feature, ARGV[3] now (RFC 3339)
-- Returns 1 created, 2 replaced; error "OWNED_BY_OTHER" if the id belongs to someone else.
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then
  return redis.error_reply('OWNED_BY_OTHER')
end
if owner then
  redis.call('HSET', KEYS[1], 'geojson', ARGV[2], 'updated_at', ARGV[3])
  return 2
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'geojson', ARGV[2], 'created_at', ARGV[3], 'updated_at', ARGV[3])
return 1
