-- auction_stop cancels the scheduled or live auction if no bid came in;
-- the unit goes back. ARGV: now ("" = TIME), an order id (for an auction
-- that fell due meanwhile), request ttl. Answers the ended auction's JSON.
set_now(ARGV[3])
return once(ARGV[5], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local a = advance_auction(ARGV[4])
	if not a then
		return {'!', 'no_auction'}
	end
	if a.bids > 0 then
		return {'!', 'auction_has_bids'}
	end
	return {'ok', end_auction(a, true, '')}
end)
