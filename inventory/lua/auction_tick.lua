-- auction_tick runs at an auction's instants (from any node's timer or
-- the shared index): it advances the auction if it is still the room's.
-- Concurrent ticks are harmless: the first ends it, the others find it
-- gone. ARGV: now ("" = TIME), auction id, an order id for a sold end,
-- "1" if the caller WAITs for replicas after this script. Answers the
-- auction's next instant ("0": none, it is over) and the time.
set_now(ARGV[3])
if not room_exists() then
	return result({'ok', '0', int(NOW)})
end
local a = get_auction()
if not a or a.id ~= ARGV[4] then
	-- Already ended (by an earlier tick whose WAIT fell short, or by a
	-- bid). A caller that WAITs needs a write of its own, after the end's
	-- on this master, for its WAIT to cover the end: the record is set
	-- again, unchanged.
	if ARGV[6] == '1' then
		local rec = redis.call('HGET', K_AENDED, ARGV[4])
		if rec then
			redis.call('HSET', K_AENDED, ARGV[4], rec)
		end
	end
	return result({'ok', '0', int(NOW)})
end
a = advance_auction(ARGV[5])
if not a then
	return result({'ok', '0', int(NOW)})
end
local due = a.ends_at
if a.state == 'scheduled' then
	due = a.starts_at
end
return result({'ok', int(due), int(NOW)})
