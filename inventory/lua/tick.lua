-- tick runs at a sale's instants (from any node's timer or the shared
-- index): it advances the sale if it is still the room's sale. Concurrent
-- ticks are harmless: the first moves the sale, the others find nothing to
-- do. ARGV: sale id. Answers the sale's next instant ("0": none, the sale
-- is over) and the time now.
if not room_exists() then
	return result({'ok', '0', int(NOW)})
end
local s = get_sale()
if not s or s.id ~= ARGV[3] then
	return result({'ok', '0', int(NOW)})
end
s = advance_sale()
if not s then
	return result({'ok', '0', int(NOW)})
end
local due = s.ends_at
if s.state == 'scheduled' then
	due = s.starts_at
end
return result({'ok', int(due), int(NOW)})
