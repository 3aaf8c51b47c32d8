-- auction_get reads an auction by id: the current one ("cur" and its JSON)
-- or an ended one ("rec" and its record). ARGV: now (unused), auction id.
if not room_exists() then
	return result({'!', 'no_room'})
end
local a = get_auction()
if a and a.id == ARGV[4] then
	return result({'ok', 'cur', auction_json(a, nil)})
end
local rec = redis.call('HGET', K_AENDED, ARGV[4])
if rec then
	return result({'ok', 'rec', rec})
end
return result({'!', 'no_auction_id'})
