-- auction_tick runs at an auction's instants (from any node's timer or
-- the shared index): it advances the auction if it is still the room's.
-- Concurrent ticks are harmless: the first ends it, the others find it
-- gone. ARGV: now ("" = TIME), auction id, an order id for a sold end.
-- Answers the auction's next instant ("0": none, it is over) and the time.
set_now(ARGV[3])
if not room_exists() then
	return result({'ok', '0', int(NOW)})
end
local a = get_auction()
if not a or a.id ~= ARGV[4] then
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
