-- blocklist replaces the block list (ARGV from 3: the terms) and moves its
-- version on, so every node's cached copy is refused by post until it is
-- read again.
if not room_exists() then
	return {'!', 'no_room'}
end
redis.call('DEL', K_BLOCK)
if #ARGV >= 3 then
	redis.call('RPUSH', K_BLOCK, unpack(ARGV, 3))
end
redis.call('HINCRBY', K_SETTINGS, 'blv', 1)
return {'ok'}
