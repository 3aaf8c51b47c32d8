-- common.lua is the prelude of every chat script (see redis.go): the Go
-- side joins it with one operation's script before loading it.
--
-- KEYS are the room's keys (keys.go chatKeys), all with the hash tag
-- {room:<id>}: the first two, meta and hist, are the shop's
-- (inventory/lua/common.lua), so emit below numbers and records chat events
-- exactly as the shop's scripts number theirs. ARGV[1] is the room id,
-- ARGV[2] the room's pub/sub channel; an operation's arguments start at
-- ARGV[3].
--
-- Every script returns {status, ...}: status is "ok" or "!" followed by a
-- refusal reason and its arguments. Numbers are formatted here (int),
-- never by cjson.
local K_META, K_HIST, K_RECENT, K_LASTID, K_SETTINGS, K_BLOCK, K_MUTES, K_BANS, K_ROLES,
	K_REACT, K_USER, K_REQ = unpack(KEYS)
local ROOM, CHANNEL = ARGV[1], ARGV[2]
local HISTORY = $HISTORY
local RECENT = $RECENT

-- One clock for the whole cluster: Redis's.
local NOW
do
	local t = redis.call('TIME')
	NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
	return string.format('%d', n)
end

local function room_exists()
	return redis.call('EXISTS', K_META) == 1
end

$ENVELOPE

local function privileged(role)
	return role == 'moderator' or role == 'creator' or role == 'admin'
end

-- settings_json is the room's chat settings as chat.Settings encodes them;
-- the announcement is stored already encoded by Go.
local function settings_json()
	local st = redis.call('HMGET', K_SETTINGS, 'enabled', 'slow', 'ann')
	local enabled = 'true'
	if st[1] == '0' then
		enabled = 'false'
	end
	return '{"enabled":' .. enabled .. ',"slow_mode_ms":' .. (st[2] or '0') .. ',"announcement":' ..
		(st[3] or 'null') .. '}'
end

-- remove_where drops the held comments for which f(id, handle) is true and
-- returns their ids, oldest first.
local function remove_where(f)
	local all = redis.call('LRANGE', K_RECENT, 0, -1)
	local kept, ids = {}, {}
	for _, e in ipairs(all) do
		local id, h = string.match(e, '^(%d+)\t([^\t]+)\t')
		if f(id, h) then
			ids[#ids + 1] = id
		else
			kept[#kept + 1] = e
		end
	end
	if #ids > 0 then
		redis.call('DEL', K_RECENT)
		for i = 1, #kept, 1000 do
			redis.call('RPUSH', K_RECENT, unpack(kept, i, math.min(i + 999, #kept)))
		end
	end
	return ids
end

local function emit_deleted(ids)
	emit('comment_deleted', ',"comments":["' .. table.concat(ids, '","') .. '"]')
end

-- purge deletes the handle's held comments.
local function purge(handle)
	local ids = remove_where(function(_, h)
		return h == handle
	end)
	if #ids > 0 then
		emit_deleted(ids)
	end
end

-- once runs f unless this request (K_REQ) already ran, in which case it
-- returns the first answer: go-redis retries a command whose reply was
-- lost, so a script may run twice.
local function once(ttl_ms, f)
	local prev = redis.call('GET', K_REQ)
	if prev then
		return cjson.decode(prev)
	end
	local res = f()
	redis.call('SET', K_REQ, cjson.encode(res), 'PX', ttl_ms)
	return res
end
