-- stop_sale ends the scheduled or live sale now. ARGV: request ttl.
-- Answers the ended sale's JSON.
return once(ARGV[3], function()
	if not room_exists() then
		return {'!', 'no_room'}
	end
	local s = advance_sale()
	if not s then
		return {'!', 'no_sale'}
	end
	end_sale(s)
	return {'ok', sale_json(s)}
end)
