-- snapshot reads the whole room in one step, so it is consistent with its
-- seq. Answers seq, title, pinned id, time, then the product ids, their
-- static JSON, stock and versions (four lists), the sale's JSON or "", and
-- the auction's JSON or "".
if not room_exists() then
	return result({'!', 'no_room'})
end
local m = redis.call('HMGET', K_META, 'seq', 'title', 'pinned')
local ids = redis.call('LRANGE', K_PRODUCTS, 0, -1)
local static, stock, ver = {}, {}, {}
if #ids > 0 then
	static = redis.call('HMGET', K_PINFO, unpack(ids))
	stock = redis.call('HMGET', K_STOCK, unpack(ids))
	ver = redis.call('HMGET', K_VER, unpack(ids))
end
local s = get_sale()
local sale = ''
if s then
	sale = sale_json(s)
end
local a = get_auction()
local auction = ''
if a then
	auction = auction_json(a, nil)
end
return result({'ok', m[1], m[2] or '', m[3] or '', int(NOW), ids, static, stock, ver, sale, auction})
