-- common.lua is the prelude of every room script (see redis.go): the Go
-- side joins it with one operation's script before loading it.
--
-- KEYS are a room's keys, all with the hash tag {room:<id>} so a script
-- touches one Redis Cluster slot; REQ is the request's idempotency key
-- (absent for reads). ARGV[1] is the room id, ARGV[2] the room's pub/sub
-- channel; an operation's own arguments start at ARGV[3].
--
-- Every script returns {transitions, status, ...}: transitions lists the
-- sale states this call entered (for the node's metrics), status is "ok"
-- or "!" followed by an error reason and its arguments. Every value is a
-- string: numbers are formatted here, never by cjson (which would print
-- 1e+12 style floats).
local K_META, K_PRODUCTS, K_PINFO, K_PRICE, K_STOCK, K_VER, K_SALE, K_SALEUSERS,
	K_HIST, K_ORDERS, K_ORDERIDX, K_AUCTION, K_AENDED, K_AENDEDZ, K_REQ = unpack(KEYS)
local ROOM, CHANNEL = ARGV[1], ARGV[2]
local HISTORY = $HISTORY
local TICKER_MS = $TICKER_MS

-- One clock for the whole cluster: Redis's.
local NOW
do
	local t = redis.call('TIME')
	NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local transitions = {}

local function int(n)
	return string.format('%d', n)
end

local function room_exists()
	return redis.call('EXISTS', K_META) == 1
end

-- product_json is the product as protocol.Product encodes it: the static
-- fields Go encoded at PutRoom (an object whose closing brace is dropped
-- here), then remaining and v.
local function product_json(id)
	local static = redis.call('HGET', K_PINFO, id)
	local remaining = redis.call('HGET', K_STOCK, id)
	local v = redis.call('HGET', K_VER, id)
	return string.sub(static, 1, -2) .. ',"remaining":' .. remaining .. ',"v":' .. v .. '}'
end

$ENVELOPE

local SALE_NUMBERS = {'price', 'quantity', 'sold', 'per_user_limit', 'starts_at', 'ends_at'}

-- get_sale returns the scheduled or live sale, or nil.
local function get_sale()
	local f = redis.call('HGETALL', K_SALE)
	if #f == 0 then
		return nil
	end
	local s = {}
	for i = 1, #f, 2 do
		s[f[i]] = f[i + 1]
	end
	for _, k in ipairs(SALE_NUMBERS) do
		s[k] = tonumber(s[k])
	end
	return s
end

local function sale_json(s)
	return '{"id":"' .. s.id .. '","product":"' .. s.product .. '","price":' .. int(s.price) ..
		',"quantity":' .. int(s.quantity) .. ',"sold":' .. int(s.sold) .. ',"per_user_limit":' ..
		int(s.per_user_limit) .. ',"starts_at":' .. int(s.starts_at) .. ',"ends_at":' .. int(s.ends_at) ..
		',"state":"' .. s.state .. '"}'
end

local function emit_sale(s)
	emit('sale', ',"sale":' .. sale_json(s))
	transitions[#transitions + 1] = s.state
end

local function end_sale(s)
	redis.call('DEL', K_SALE, K_SALEUSERS)
	s.state = 'ended'
	emit_sale(s)
end

-- advance_sale moves the sale to the state the clock says it is in, as
-- MemoryStore.advanceSaleLocked does, and returns it unless it ended.
local function advance_sale()
	local s = get_sale()
	if not s then
		return nil
	end
	if s.state == 'scheduled' and NOW >= s.starts_at and NOW < s.ends_at then
		s.state = 'live'
		redis.call('HSET', K_SALE, 'state', 'live')
		emit_sale(s)
	end
	if NOW >= s.ends_at then
		end_sale(s)
		return nil
	end
	return s
end

local function result(res)
	table.insert(res, 1, table.concat(transitions, ','))
	return res
end

-- once runs f unless this request (K_REQ) already ran, in which case it
-- returns the first answer: go-redis retries a command whose reply was
-- lost, so a script may run twice. f returns a flat list of strings.
-- keep, if given, says whether an answer is remembered; one that is not
-- costs no key (and a retry simply runs f again).
local function once(ttl_ms, f, keep)
	local prev = redis.call('GET', K_REQ)
	if prev then
		-- A write, so that a WAIT after this replay (-redis-wait-replicas)
		-- covers the first answer's writes too; it also keeps the answer
		-- for as long again.
		redis.call('PEXPIRE', K_REQ, ttl_ms)
		local res = cjson.decode(prev)
		table.insert(res, 1, '')
		return res
	end
	local res = f()
	if keep == nil or keep(res) then
		redis.call('SET', K_REQ, cjson.encode(res), 'PX', ttl_ms)
	end
	return result(res)
end
