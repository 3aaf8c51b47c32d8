// liveclient.js: a small, dependency-free browser client for the liveserver
// wire protocol, version 1 with the 1.1 additions (docs/PROTOCOL.md). It
// is an ES module with no imports; copy it into any web app, or install this
// folder as the npm package @liveserver/liveclient (types in
// ../liveclient.d.ts). It also runs in Node.js 22+ (or 20.10+ with
// --experimental-websocket), given options.url.
//
//   import { LiveClient, devTokenProvider } from './liveclient.js';
//   const client = new LiveClient({ token: devTokenProvider({ role: 'viewer' }) });
//   const room = client.join('demo');          // live state of the room
//   client.on('change', (e) => render(room));  // any change of room state
//   client.connect();
//   const reply = await client.buy({ room: 'demo', product: 'p1' });
//
// What it does for you:
//   - connects to ws(s)://<host>/ws and authenticates with a first
//     {"type":"auth","token"} message (browsers cannot set headers);
//   - joins rooms, and on reconnect re-joins with `since` (the last applied
//     seq) so the server replays only what was missed; on a seq gap it
//     re-joins with `since` on the same connection;
//   - reconnects with jittered exponential backoff, and detects dead
//     connections with ping/pong;
//   - splits server frames on '\n' (the server batches messages);
//   - applies `stock` only when its `v` is higher than the one it knows;
//   - correlates requests and replies by `id` with promises and timeouts,
//     and resends idempotent requests (`buy`) with the same id after a
//     reconnect, or after `retry_after_ms` plus jitter when the server
//     answers `overloaded`, so a purchase is never taken twice;
//   - refreshes its token on the open connection before the token's exp
//     (the server ends a connection at exp with token_expired): it decodes
//     exp from the JWT and, some seconds before it, asks the app's
//     refreshToken callback for a fresh token and sends it as `auth`;
//   - estimates the offset between the server's clock and the local clock
//     from the `ts` of every message and from ping round trips, so sale
//     countdowns follow the server's clock (serverNow());
//   - keeps each room's chat (version 1.1): the recent comments in id order
//     without duplicates, minus the ones moderation deleted (also when a
//     deletion arrives before a late copy of the comment), the chat
//     settings and announcement, the sampling notice and the latest
//     reaction counts;
//   - keeps each room's auction, its leading bid taken from the `bid`
//     message or `auction` event with the highest `v` (bids), so a late or
//     reordered bid never moves the price backwards.

/** Error codes of the protocol, plus the client's own (timeout, disconnected, closed). */
export const ErrorCode = Object.freeze({
  BadRequest: 'bad_request',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  SoldOut: 'sold_out',
  LimitExceeded: 'limit_exceeded',
  SaleNotLive: 'sale_not_live',
  RateLimited: 'rate_limited',
  TooManyRooms: 'too_many_rooms',
  Unavailable: 'unavailable',
  Overloaded: 'overloaded',
  Internal: 'internal',
  TokenExpired: 'token_expired', // in an `error` message before the server closes with 1008
  // Version 1.1: the chat and moderation, auctions.
  Muted: 'muted', // with `until` (Unix ms): LiveError.until
  Banned: 'banned', // also an `error` message with `room` when a ban takes the connection out of it
  SlowMode: 'slow_mode', // with `retry_after_ms`: LiveError.retryAfterMs
  Blocked: 'blocked',
  ChatClosed: 'chat_closed',
  AuctionNotLive: 'auction_not_live',
  BidTooLow: 'bid_too_low', // with `min_bid`: LiveError.minBid
  // Client side: no answer in time, connection lost before the answer, client closed.
  Timeout: 'timeout',
  Disconnected: 'disconnected',
  Closed: 'closed',
});

/**
 * A failed request: `code` is one of ErrorCode, `reply` the server's reply
 * if any. The error's extra fields are copied: `retryAfterMs`
 * (rate_limited, slow_mode, overloaded), `until` (muted, Unix ms of the
 * server's clock) and `minBid` (bid_too_low); null when absent.
 */
export class LiveError extends Error {
  constructor(code, message, reply) {
    super(message || code);
    this.name = 'LiveError';
    this.code = code;
    this.reply = reply || null;
    const e = (reply && reply.error) || {};
    this.retryAfterMs = Number.isFinite(e.retry_after_ms) ? e.retry_after_ms : null;
    this.until = Number.isFinite(e.until) ? e.until : null;
    this.minBid = Number.isFinite(e.min_bid) ? e.min_bid : null;
  }
}

/** The reaction kinds of the protocol. */
const REACTIONS = ['heart', 'fire', 'clap', 'laugh', 'wow'];

// The longest delay setTimeout honours (about 24.8 days).
const MAX_TIMER = 2 ** 31 - 1;

// A monotonic local clock in Unix milliseconds: immune to wall-clock steps.
const localNow = () => performance.timeOrigin + performance.now();

/** A random UUID (v4), also outside secure contexts. */
export function randomId(prefix = '') {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function' && globalThis.isSecureContext) {
    return prefix + crypto.randomUUID();
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${prefix}${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A valid room id: 1 to 64 characters of [A-Za-z0-9_-]. */
export const isRoomId = (s) => typeof s === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(s);

/**
 * Formats a price given in minor units (cents) in its currency, e.g.
 * formatMoney(1999, 'USD') is "$19.99" and formatMoney(500, 'JPY') is "¥500".
 */
export function formatMoney(minor, currency = 'USD', locale = undefined) {
  let fmt;
  try {
    fmt = new Intl.NumberFormat(locale, { style: 'currency', currency });
  } catch {
    fmt = new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD' });
  }
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format(Number(minor) / 10 ** digits);
}

/** The number of minor units of a currency (2 for USD, 0 for JPY). */
export function currencyDigits(currency = 'USD') {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/**
 * ClockSync estimates offset = serverClock - localClock.
 *
 * A message stamped `ts` by the server and received locally at `recv` bounds
 * the offset from below (the server stamped it before we got it):
 * offset >= ts - recv. A pong stamped `ts` for a ping sent at `sent` bounds it
 * from above too: offset <= ts - sent. The estimate is the midpoint of the
 * ping with the smallest round trip (NTP's rule), clamped into the bounds;
 * before the first pong it is the best lower bound. Call reset() on every new
 * connection: the estimate is recomputed from scratch after a reconnect.
 */
export class ClockSync {
  constructor() {
    this.reset();
  }

  reset() {
    this.lower = -Infinity;
    this.upper = Infinity;
    this.samples = [];
    this.offset = null;
    this.rtt = null;
  }

  /** Any server message: returns true when the estimate changed. */
  observe(ts, recv = localNow()) {
    if (!Number.isFinite(ts)) return false;
    const lb = ts - recv;
    if (lb <= this.lower) return false;
    if (lb > this.upper + 1) this._restart(); // the server's clock stepped
    this.lower = lb;
    return this._update();
  }

  /** A pong: returns true when the estimate changed. */
  observePong(ts, sent, recv = localNow()) {
    if (!Number.isFinite(ts)) return false;
    const ub = ts - sent;
    if (ub < this.lower - 1) this._restart(); // the server's clock stepped
    const rtt = Math.max(0, recv - sent);
    this.samples.push({ rtt, offset: ts - (sent + recv) / 2 });
    if (this.samples.length > 16) this.samples.shift();
    this.upper = Math.min(this.upper, ub);
    this.lower = Math.max(this.lower, ts - recv);
    return this._update();
  }

  _restart() {
    this.lower = -Infinity;
    this.upper = Infinity;
    this.samples = [];
  }

  _update() {
    let best = null;
    for (const s of this.samples) if (!best || s.rtt < best.rtt) best = s;
    let est = best ? best.offset : this.lower;
    if (!Number.isFinite(est)) return false;
    if (this.lower <= this.upper) est = Math.min(Math.max(est, this.lower), this.upper);
    this.rtt = best ? best.rtt : this.rtt;
    const changed = this.offset === null || Math.abs(est - this.offset) >= 1;
    this.offset = est;
    return changed;
  }
}

const DEFAULTS = Object.freeze({
  requestTimeout: 10000, // ms until a request without an answer fails with `timeout`
  authTimeout: 8000, // ms to wait for the reply to `auth` (the server closes at 10 s)
  backoffBase: 500, // first reconnect delay, ms (then doubled per attempt)
  backoffMax: 15000, // longest reconnect delay, ms
  pingInterval: 20000, // keepalive ping period, ms
  pingTimeout: 10000, // ms without a pong before the connection counts as dead
  stableAfter: 10000, // a connection live this long resets the backoff
  refreshStock: true, // after a resumed join, fetch GET /api/rooms/{room} for current stock
  refreshBefore: 30000, // ms before the token's exp to refresh it (at most half its remaining life)
  refreshToken: null, // async () => fresh token of the same sub; see the constructor
  maxComments: 200, // comments kept per room (the snapshot brings the last 50)
});

function newRoom(id) {
  return {
    id,
    joined: false, // the server acknowledged our join on this connection
    seq: null, // last applied event seq; null: no state yet
    title: '',
    products: new Map(), // id -> product, in catalog order
    pinned: null, // the pinned product or null
    sale: null, // the current sale or null (state 'ended' is kept until the next snapshot)
    viewers: 0,
    stock: new Map(), // product id -> {remaining, v}: highest v wins
    error: null, // LiveError of the last failed join
    resyncing: false, // a join with `since` is in flight after a seq gap
    lastResync: 0,
    // Version 1.1.
    chat: { enabled: true, slow_mode_ms: 0, announcement: null }, // settings and announcement
    comments: [], // visible comments, oldest first, in id order, at most options.maxComments
    deleted: new Set(), // ids of comments moderation removed (bounded), so a late copy stays removed
    chatMode: { sampled: false, rate: 0 }, // sampled: this connection gets a fair sample of the comments
    reactions: {}, // the counts of the last `reactions` message
    auction: null, // the scheduled or live auction (an ended one is kept until the next snapshot)
    bid: null, // the `bid` message with the highest v seen for the current auction
    banned: false, // a ban took this connection out of the room
  };
}

// Comment ids grow per room: decimal strings compare by length, then text.
function compareIds(a, b) {
  const num = /^[0-9]+$/;
  if (num.test(a) && num.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * LiveClient is one WebSocket connection to a liveserver node, kept alive
 * across disconnects. It is an EventTarget; events (CustomEvent, payload in
 * `detail`; or use on(type, fn), which passes the detail):
 *
 *   state      {state, code, delay, attempt}  connecting, authenticating,
 *              joining, live, reconnecting, closed
 *   change     {room, reason}   any change of a room's state (reason: the message type)
 *   snapshot, pinned, unpinned, sale, catalog   {room, msg}
 *   stock      {room, product, remaining, v}    only when applied (higher v)
 *   viewers    {room, count}
 *   purchase   {room, product, qty, buyer, ts}
 *   joined     {room}           join acknowledged
 *   joinerror  {room, error}
 *   clock      {offset, rtt}
 *   servererror {code, message, room} an `error` message from the server
 *   message    {msg}            every message received
 *
 * Version 1.1 (chat, moderation, auctions):
 *   comment    {room, comment}  a new comment (once per id), in room.comments
 *   comment_deleted {room, msg, ids}  comments removed from room.comments
 *   chat       {room, msg}      settings or announcement changed (room.chat)
 *   chat_mode  {room, sampled, rate}
 *   reactions  {room, counts}
 *   auction    {room, msg}      scheduled, live or ended (room.auction)
 *   bid        {room, auction, current, leader, bids, ends_at, v}  only when applied (higher v)
 *   banned     {room}           a ban took this connection out of the room
 */
export class LiveClient extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.url] WebSocket URL; default ws(s)://<this host>/ws
   *   (required outside a browser)
   * @param {function} [options.WebSocket] the WebSocket class; default the
   *   global one (e.g. the `ws` package's, in an older Node.js)
   * @param {string|function} [options.token] a token, or an async function
   *   ({refresh}) => token|null called before every connection attempt
   *   (refresh is true after the server refused the last token)
   * @param {function} [options.refreshToken] async () => token: a fresh
   *   token of the same user, asked for options.refreshBefore ms before the
   *   current one's exp and sent on the open connection, so it lives on;
   *   without it, a token function is called with {refresh: true} instead.
   *   Also used to reconnect after the server refused or expired the token.
   */
  constructor(options = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    this.url = options.url || defaultURL();
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    const t = options.token;
    this.tokenProvider = typeof t === 'function' ? t : t ? async () => t : null;
    this.token = null;
    this.state = 'idle';
    this.rooms = new Map();
    this.clock = new ClockSync();
    this.pending = new Map(); // request id -> record
    this.ws = null;
    this.connId = 0;
    this.ready = false; // authenticated on the current connection
    this.attempt = 0;
    this.stopped = true;
    this.refreshToken = false; // the next connection needs a fresh token
    this.lastClose = null;
    this.reconnectAt = null;
    this._timer = null;
    this._stableTimer = null;
    this._pingTimer = null;
    this._refreshTimer = null; // the next token refresh on this connection
    this._pings = new Map(); // ping id -> {sent, timer}
    this._n = 0;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', () => this.state === 'reconnecting' && this._open());
    }
  }

  /** Subscribes fn(detail) to an event; returns the unsubscribe function. */
  on(type, fn) {
    const h = (e) => fn(e.detail);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  /** The server's clock now, in Unix milliseconds (the local clock until an estimate exists). */
  serverNow() {
    return localNow() + (this.clock.offset ?? 0);
  }

  /** serverClock - localClock in ms, or null before the first message. */
  get clockOffset() {
    return this.clock.offset;
  }

  /** Smallest ping round trip on this connection, ms, or null. */
  get rtt() {
    return this.clock.rtt;
  }

  /** Starts connecting (and keeps reconnecting until close()). */
  connect() {
    if (!this.stopped) return this;
    this.stopped = false;
    this._open();
    return this;
  }

  /** Closes the connection for good; pending requests fail with `closed`. */
  close() {
    this.stopped = true;
    clearTimeout(this._timer);
    const ws = this.ws;
    this._teardown(1000, 'client closed');
    if (ws) {
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closed */
      }
    }
    for (const rec of this.pending.values()) this._settle(rec, new LiveError(ErrorCode.Closed, 'client closed'));
    this._setState('closed', { code: 1000 });
  }

  /** Joins a room (now or once connected) and returns its live state object. */
  join(roomId) {
    if (!isRoomId(roomId)) throw new LiveError(ErrorCode.BadRequest, `invalid room id ${JSON.stringify(roomId)}`);
    let r = this.rooms.get(roomId);
    if (!r) {
      r = newRoom(roomId);
      this.rooms.set(roomId, r);
      if (this.ready) this._joinRoom(r);
    }
    return r;
  }

  /** Leaves a room and forgets its state. */
  leave(roomId) {
    if (!this.rooms.delete(roomId)) return;
    if (this.ready) this._sendRaw({ type: 'leave', room: roomId });
  }

  /** The state object of a joined room, or undefined. */
  room(roomId) {
    return this.rooms.get(roomId);
  }

  /**
   * Sends a request and resolves with the server's reply when `ok`, or
   * rejects with a LiveError (the server's error code, or timeout /
   * disconnected / closed). A request made while disconnected is sent once
   * connected. `id` is generated unless given; calling again with the id of
   * a request still pending returns the same promise and sends nothing.
   * With resend: true (idempotent requests) a request whose connection broke
   * before the answer is sent again, with the same id, after reconnecting.
   */
  request(msg, { timeout = this.options.requestTimeout, resend = false } = {}) {
    const id = msg.id || this._nextId('c');
    const existing = this.pending.get(id);
    if (existing) return existing.promise;
    const rec = this._pendingRecord({ id, msg: { ...msg, id }, resend, internal: false, conn: 0, sentAt: 0 }, timeout);
    if (this.ready) this._sendRecord(rec);
    return rec.promise;
  }

  /**
   * Buys a product. Pass the same `id` to retry a purchase whose answer was
   * lost: the server answers a repeated id with the first answer and never
   * takes stock twice. Resolves with {order, product, qty, price, remaining}.
   */
  buy({ room, product, qty = 1, id = randomId() }, opts = {}) {
    return this.request({ type: 'buy', id, room, product, qty }, { resend: true, ...opts });
  }

  pin(room, product, opts) {
    return this.request({ type: 'pin', room, product }, opts);
  }

  unpin(room, opts) {
    return this.request({ type: 'unpin', room }, opts);
  }

  /** sale: {product, price, quantity, per_user_limit, duration_ms, starts_in_ms?} */
  saleStart(room, sale, opts) {
    return this.request({ ...sale, type: 'sale_start', room }, opts);
  }

  saleStop(room, opts) {
    return this.request({ type: 'sale_stop', room }, opts);
  }

  // ---- chat (version 1.1) ----

  /**
   * Posts a comment (1 to 300 characters) to a room joined on this
   * connection. Resolves with {comment}; rejects with rate_limited or
   * slow_mode (err.retryAfterMs), muted (err.until), banned, blocked,
   * chat_closed, bad_request or forbidden. Never resent: a comment whose
   * answer was lost fails with disconnected or timeout.
   */
  comment(room, text, opts) {
    return this.request({ type: 'comment', room, text }, opts);
  }

  /**
   * Counts one reaction (heart, fire, clap, laugh, wow). Without
   * {ack: true} it is sent without an id (no reply; a user's reactions
   * beyond 10 a second are not counted) and returns whether it was sent;
   * with it, it returns the request's promise.
   */
  react(room, kind, { ack = false, ...opts } = {}) {
    if (!REACTIONS.includes(kind)) throw new LiveError(ErrorCode.BadRequest, `unknown reaction ${JSON.stringify(kind)}`);
    if (ack) return this.request({ type: 'react', room, kind }, opts);
    return this.ready ? this._sendRaw({ type: 'react', room, kind }) : false;
  }

  /** Moderator+: removes a comment (everyone gets comment_deleted). */
  deleteComment(room, comment, opts) {
    return this.request({ type: 'delete_comment', room, comment }, opts);
  }

  /** Moderator+: refuses the comments of an author handle for durationMs (1 s to 24 h); purge also removes their recent comments. Resolves with {until}. */
  mute(room, user, durationMs, { purge = false, ...opts } = {}) {
    return this.request({ type: 'mute', room, user, duration_ms: durationMs, purge }, opts);
  }

  unmute(room, user, opts) {
    return this.request({ type: 'unmute', room, user }, opts);
  }

  /** Moderator+: the author's connections leave the room and their joins, comments, purchases and bids are refused until unban. */
  ban(room, user, opts) {
    return this.request({ type: 'ban', room, user }, opts);
  }

  unban(room, user, opts) {
    return this.request({ type: 'unban', room, user }, opts);
  }

  /** Moderator+: any of {enabled, slow_mode_ms, announcement (null clears it)}. Resolves with {chat}. */
  chatSettings(room, settings, opts) {
    return this.request({ ...settings, type: 'chat_settings', room }, opts);
  }

  /** Moderator+: the room's block list, over HTTP: resolves with the terms. */
  async blockList(room) {
    const body = await this.http('GET', `/api/rooms/${encodeURIComponent(room)}/chat/blocklist`);
    return body.terms || [];
  }

  /** Moderator+: replaces the room's block list (at most 200 terms of 1 to 50 characters); resolves with the terms kept. */
  async setBlockList(room, terms) {
    const body = await this.http('PUT', `/api/rooms/${encodeURIComponent(room)}/chat/blocklist`, { terms });
    return body.terms || [];
  }

  // ---- auctions (version 1.1) ----

  /** auction: {product, start_price, increment, duration_ms, extend_ms?, sudden_death?, reserve_price?, starts_in_ms?}; resolves with {auction}. */
  auctionStart(room, auction, opts) {
    return this.request({ ...auction, type: 'auction_start', room }, opts);
  }

  /** Cancels the auction while it is scheduled or has no bid; resolves with {auction}. */
  auctionStop(room, opts) {
    return this.request({ type: 'auction_stop', room }, opts);
  }

  /**
   * Bids `amount` (minor units), optionally as a proxy up to `max`. Like
   * buy, a bid has an idempotency id and is sent again with it after a
   * reconnect. Resolves with {amount, leading, current, ends_at}; rejects
   * with bid_too_low (err.minBid), auction_not_live, banned, forbidden...
   */
  bid({ room, auction, amount, max, id = randomId() }, opts = {}) {
    const msg = { type: 'bid', id, room, auction, amount };
    if (max !== undefined && max !== null) msg.max = max;
    return this.request(msg, { resend: true, ...opts });
  }

  /** The least amount the next bid on the room's live auction must reach, or null. */
  nextBid(roomId) {
    const a = this.rooms.get(roomId)?.auction;
    if (!a || a.state !== 'live') return null;
    return a.current === null || a.current === undefined ? a.start_price : a.current + a.increment;
  }

  /**
   * Calls the HTTP API with this client's token (Authorization: Bearer)
   * and resolves with the JSON answer; rejects with a LiveError of the
   * answer's error code.
   */
  async http(method, path, body) {
    const token = await this.getToken();
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(`${httpBase(this.url)}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        signal: timeoutSignal(this.options.requestTimeout),
      });
    } catch (err) {
      throw new LiveError(ErrorCode.Disconnected, `${method} ${path}: ${err.message}`);
    }
    let answer = null;
    try {
      answer = await res.json();
    } catch {
      /* no JSON body */
    }
    if (!res.ok) {
      const e = (answer && answer.error) || { code: ErrorCode.Internal, message: `HTTP ${res.status}` };
      throw new LiveError(e.code || ErrorCode.Internal, e.message, { type: 'reply', ok: false, error: e });
    }
    return answer || {};
  }

  /** The token used on the current connection (for HTTP API calls). */
  async getToken() {
    if (!this.token && this.tokenProvider) this.token = await this.tokenProvider({ refresh: false });
    return this.token;
  }

  // ---- connection ----

  async _open() {
    clearTimeout(this._timer);
    this._timer = null;
    this.reconnectAt = null;
    const conn = ++this.connId;
    this._setState('connecting', { attempt: this.attempt });
    if (this.tokenProvider) {
      try {
        const refresh = this.refreshToken;
        this.token = refresh && this.options.refreshToken ? await this.options.refreshToken() : await this.tokenProvider({ refresh });
        this.refreshToken = false;
      } catch (err) {
        if (conn !== this.connId || this.stopped) return;
        this._emit('servererror', { code: err.code || ErrorCode.Unavailable, message: `token: ${err.message}` });
        this._scheduleReconnect(0);
        return;
      }
      if (conn !== this.connId || this.stopped) return;
    }
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (err) {
      this._emit('servererror', { code: ErrorCode.BadRequest, message: err.message });
      this._scheduleReconnect(0);
      return;
    }
    this.ws = ws;
    this.clock.reset();
    ws.onopen = () => conn === this.connId && this._onOpen(conn);
    ws.onmessage = (ev) => conn === this.connId && this._onFrame(ev.data);
    ws.onclose = (ev) => conn === this.connId && this._onClose(ev.code, ev.reason);
    // A close event follows an error in browsers, but not after a failed
    // connection in some WebSocket implementations (Node.js 20's): count
    // an error before the open as the close, once.
    ws.onerror = () => {
      if (ws.readyState === 1) return;
      setTimeout(() => {
        if (conn !== this.connId || this.ws !== ws) return;
        try {
          ws.close();
        } catch {
          /* never opened */
        }
        this._onClose(1006, 'connection failed');
      }, 0);
    };
  }

  async _onOpen(conn) {
    if (this.token) {
      this._setState('authenticating');
      // auth is the first message on the connection; pings follow it.
      const auth = this._call({ type: 'auth', token: this.token }, this.options.authTimeout);
      this._startPings(conn);
      try {
        await auth;
      } catch (err) {
        if (conn !== this.connId) return;
        if (err.code === ErrorCode.Unauthorized || err.code === ErrorCode.Forbidden) this.refreshToken = true;
        this._emit('servererror', { code: err.code, message: `auth: ${err.message}` });
        this._drop(conn, 'auth failed');
        return;
      }
      if (conn !== this.connId) return;
      this._scheduleTokenRefresh(conn);
    } else {
      this._startPings(conn);
    }
    this.ready = true;
    this._setState('joining');
    for (const rec of this.pending.values()) {
      if (!rec.internal && rec.conn !== conn) this._sendRecord(rec);
    }
    const joins = [...this.rooms.values()].map((r) => this._joinRoom(r));
    await Promise.allSettled(joins);
    if (conn !== this.connId) return;
    this._setState('live');
    clearTimeout(this._stableTimer);
    this._stableTimer = setTimeout(() => {
      this.attempt = 0;
    }, this.options.stableAfter);
  }

  // Arms the refresh of the connection's token: refreshBefore ms before its
  // exp (by the server's clock), or at half its remaining life when that is
  // sooner, so a short-lived token is not refreshed in a tight loop. A
  // token without a readable exp is not refreshed.
  _scheduleTokenRefresh(conn, delay) {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const fetchToken = this._tokenRefresher();
    const exp = jwtExpiry(this.token);
    if (!fetchToken || !Number.isFinite(exp)) return;
    if (delay === undefined) {
      const left = exp - this.serverNow();
      delay = Math.max(0, left - Math.min(this.options.refreshBefore, left / 2));
    }
    if (delay > MAX_TIMER) {
      // setTimeout fires at once past 2^31-1 ms: look again later.
      this._refreshTimer = setTimeout(() => this._scheduleTokenRefresh(conn), MAX_TIMER);
      return;
    }
    this._refreshTimer = setTimeout(() => this._refreshTokenNow(conn, fetchToken, exp), delay);
  }

  // The app's way to get a fresh token, or null.
  _tokenRefresher() {
    if (this.options.refreshToken) return this.options.refreshToken;
    if (typeof this.options.token === 'function') return () => this.options.token({ refresh: true });
    return null;
  }

  async _refreshTokenNow(conn, fetchToken, exp) {
    const retry = (err) => {
      if (conn !== this.connId) return;
      this._emit('servererror', { code: err.code || ErrorCode.Unavailable, message: `token refresh: ${err.message}` });
      // Try again while the token lasts; past exp the server closes with
      // token_expired and the reconnect asks for a fresh token.
      const left = exp - this.serverNow();
      if (left > 2000 && err.code !== ErrorCode.Forbidden) this._scheduleTokenRefresh(conn, Math.min(5000, left / 2));
    };
    let token;
    try {
      token = await fetchToken();
    } catch (err) {
      retry(err);
      return;
    }
    if (conn !== this.connId || this.stopped) return;
    // Nothing fresher to send (a fixed token): let the server expire it.
    if (typeof token !== 'string' || !(jwtExpiry(token) > exp)) return;
    try {
      await this._call({ type: 'auth', token }, this.options.authTimeout);
    } catch (err) {
      retry(err);
      return;
    }
    if (conn !== this.connId) return;
    this.token = token;
    this._scheduleTokenRefresh(conn);
  }

  _joinRoom(r) {
    const msg = { type: 'join', room: r.id };
    if (r.seq !== null) msg.since = r.seq;
    const conn = this.connId;
    return this._call(msg, this.options.requestTimeout).then(
      () => {
        if (conn !== this.connId || this.rooms.get(r.id) !== r) return;
        r.joined = true;
        r.error = null;
        r.banned = false;
        r.resyncing = false;
        this._emit('joined', { room: r });
        // Stock is volatile: a resumed join replays events but not the
        // stock changes missed meanwhile, so fetch the room's current stock.
        if (msg.since !== undefined && this.options.refreshStock) this._refreshStock(r);
      },
      (err) => {
        if (conn !== this.connId || this.rooms.get(r.id) !== r) return;
        r.resyncing = false;
        if (err.code === ErrorCode.Disconnected || err.code === ErrorCode.Closed) return;
        if (err.code === ErrorCode.Timeout) {
          this._drop(conn, 'join timeout');
          return;
        }
        r.error = err;
        if (err.code === ErrorCode.Banned) r.banned = true;
        this._emit('joinerror', { room: r, error: err });
        this._change(r, 'joinerror');
      },
    );
  }

  // Merges the stock of GET /api/rooms/{room} (highest v wins, so a stale
  // answer changes nothing).
  async _refreshStock(r) {
    try {
      const res = await fetch(`${httpBase(this.url)}/api/rooms/${encodeURIComponent(r.id)}`, {
        cache: 'no-store',
        signal: timeoutSignal(this.options.requestTimeout),
      });
      if (!res.ok) return;
      const snap = await res.json();
      if (this.rooms.get(r.id) !== r || r.seq === null) return;
      let changed = false;
      for (const p of snap.products || []) {
        if (this._applyStock(r, p.id, p.remaining, p.v)) {
          changed = true;
          this._emit('stock', { room: r, product: p.id, remaining: p.remaining, v: p.v });
        }
      }
      if (changed) this._change(r, 'stock');
      // Comments are volatile too: add the ones posted while we were away
      // (deleted ones stay out: r.deleted holds the replayed deletions).
      let added = false;
      for (const c of snap.comments || []) {
        if (this._addComment(r, { ...c })) {
          added = true;
          this._emit('comment', { room: r, comment: c });
        }
      }
      if (added) this._change(r, 'comment');
    } catch {
      /* best effort: the next stock message corrects it */
    }
  }

  // A seq gap: re-join with `since` on this connection (at most every 500 ms).
  _resync(r) {
    if (r.resyncing || !this.ready) return;
    const wait = r.lastResync + 500 - localNow();
    if (wait > 0) {
      r.resyncing = true;
      setTimeout(() => {
        r.resyncing = false;
        this._resync(r);
      }, wait);
      return;
    }
    r.resyncing = true;
    r.lastResync = localNow();
    this._joinRoom(r);
  }

  _onClose(code, reason) {
    this._teardown(code, reason);
    if (this.stopped) {
      this._setState('closed', { code });
      return;
    }
    this._scheduleReconnect(code);
  }

  // Forgets the current connection: fails what cannot survive it.
  _teardown(code, reason) {
    const ws = this.ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
    this.ws = null;
    this.ready = false;
    this.connId++;
    this.lastClose = { code, reason };
    clearTimeout(this._stableTimer);
    clearTimeout(this._pingTimer);
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    for (const p of this._pings.values()) clearTimeout(p.timer);
    this._pings.clear();
    for (const r of this.rooms.values()) {
      r.joined = false;
      r.resyncing = false;
      r.chatMode = { sampled: false, rate: 0 }; // told again on the next connection if still so
    }
    for (const rec of [...this.pending.values()]) {
      if (rec.internal || (rec.conn !== 0 && !rec.resend)) {
        this._settle(rec, new LiveError(ErrorCode.Disconnected, 'connection lost before the answer'));
      }
    }
    if (code === 1008) this.refreshToken = true;
  }

  // Closes a connection this client considers dead or unusable.
  _drop(conn, reason) {
    if (conn !== this.connId || !this.ws) return;
    const ws = this.ws;
    this._teardown(4001, reason);
    try {
      ws.close(4001, reason);
    } catch {
      /* already closed */
    }
    if (!this.stopped) this._scheduleReconnect(4001);
  }

  _scheduleReconnect(code) {
    clearTimeout(this._timer);
    const o = this.options;
    const base = code === 1013 ? Math.max(o.backoffBase, 2000) : o.backoffBase;
    const cap = Math.min(o.backoffMax, base * 2 ** Math.min(this.attempt, 16));
    // "Equal jitter": half fixed, half random, so clients spread out but
    // none comes back immediately after a shutdown (1001).
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.attempt++;
    this.reconnectAt = Date.now() + delay;
    this._setState('reconnecting', { code, delay, attempt: this.attempt });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _startPings(conn) {
    let n = 0;
    const schedule = [0, 1000, 3000]; // a few quick samples for the clock, then keepalive
    const next = () => {
      if (conn !== this.connId) return;
      this._ping(conn);
      const d = n < schedule.length - 1 ? schedule[n + 1] - schedule[n] : this.options.pingInterval;
      n++;
      this._pingTimer = setTimeout(next, d);
    };
    next();
  }

  _ping(conn) {
    const id = this._nextId('ping');
    const sent = localNow();
    const timer = setTimeout(() => this._drop(conn, 'ping timeout'), this.options.pingTimeout);
    this._pings.set(id, { sent, timer });
    this._sendRaw({ type: 'ping', id });
  }

  // ---- sending ----

  _nextId(prefix) {
    this._n++;
    return `${prefix}-${this._n}-${Math.random().toString(36).slice(2, 8)}`;
  }

  _sendRaw(msg) {
    if (!this.ws || this.ws.readyState !== 1 /* OPEN */) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  // _pendingRecord gives a request record its promise and its timeout and
  // registers it as pending.
  _pendingRecord(rec, timeout) {
    rec.promise = new Promise((resolve, reject) => {
      rec.resolve = resolve;
      rec.reject = reject;
    });
    rec.deadline = localNow() + timeout;
    rec.timer = setTimeout(() => {
      this._settle(rec, new LiveError(ErrorCode.Timeout, `no answer to ${rec.msg.type} within ${timeout} ms`));
    }, timeout);
    this.pending.set(rec.id, rec);
    return rec;
  }

  _sendRecord(rec) {
    if (this._sendRaw(rec.msg)) {
      rec.conn = this.connId;
      rec.sentAt = localNow();
    }
  }

  // An internal request on the current connection (auth, join): it fails
  // when that connection closes.
  _call(msg, timeout) {
    const id = this._nextId(msg.type);
    const rec = this._pendingRecord({ id, msg: { ...msg, id }, resend: false, internal: true, conn: this.connId }, timeout);
    if (!this._sendRaw(rec.msg)) this._settle(rec, new LiveError(ErrorCode.Disconnected, 'not connected'));
    return rec.promise;
  }

  _settle(rec, err, reply) {
    if (this.pending.get(rec.id) !== rec) return;
    this.pending.delete(rec.id);
    clearTimeout(rec.timer);
    clearTimeout(rec.retry);
    if (err) rec.reject(err);
    else rec.resolve(reply);
  }

  // ---- receiving ----

  _onFrame(data) {
    const recv = localNow();
    if (typeof data !== 'string') return;
    for (const line of data.split('\n')) {
      if (!line.trim()) continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        this._emit('servererror', { code: 'bad_frame', message: 'server sent invalid JSON' });
        continue;
      }
      if (msg && typeof msg === 'object') this._onMessage(msg, recv);
    }
  }

  _onMessage(msg, recv) {
    if (typeof msg.ts === 'number' && this.clock.observe(msg.ts, recv)) {
      this._emit('clock', { offset: this.clock.offset, rtt: this.clock.rtt });
    }
    this._emit('message', { msg });
    switch (msg.type) {
      case 'reply':
        return this._onReply(msg);
      case 'pong':
        return this._onPong(msg, recv);
      case 'error':
        return this._onError(msg);
      case 'snapshot':
        return this._onSnapshot(msg);
      case 'pinned':
      case 'unpinned':
      case 'sale':
      case 'catalog':
      case 'comment_deleted':
      case 'chat':
      case 'auction':
        return this._onEvent(msg);
      case 'stock':
        return this._onStock(msg);
      case 'comment':
        return this._onComment(msg);
      case 'bid':
        return this._onBid(msg);
      case 'reactions': {
        const r = this._stateful(msg.room);
        if (!r || !msg.counts || typeof msg.counts !== 'object') return;
        r.reactions = { ...msg.counts };
        this._emit('reactions', { room: r, counts: r.reactions });
        return this._change(r, 'reactions');
      }
      case 'chat_mode': {
        const r = this._stateful(msg.room);
        if (!r) return;
        r.chatMode = { sampled: !!msg.sampled, rate: typeof msg.rate === 'number' ? msg.rate : 0 };
        this._emit('chat_mode', { room: r, ...r.chatMode });
        return this._change(r, 'chat_mode');
      }
      case 'viewers': {
        const r = this._stateful(msg.room);
        if (!r || typeof msg.count !== 'number') return;
        r.viewers = msg.count;
        this._emit('viewers', { room: r, count: msg.count });
        return this._change(r, 'viewers');
      }
      case 'purchase': {
        const r = this._stateful(msg.room);
        if (!r) return;
        return this._emit('purchase', { room: r, product: msg.product, qty: msg.qty, buyer: msg.buyer, ts: msg.ts });
      }
      default:
        return undefined; // unknown types are allowed by the protocol: ignore
    }
  }

  _onReply(msg) {
    const rec = this.pending.get(msg.id);
    if (!rec) return; // late answer to a request that timed out
    if (msg.ok) this._settle(rec, null, msg);
    else {
      const e = msg.error || {};
      if (e.code === ErrorCode.Overloaded && rec.resend && this._retryLater(rec, e.retry_after_ms)) return;
      this._settle(rec, new LiveError(e.code || ErrorCode.Internal, e.message || e.code, msg));
    }
  }

  // _retryLater sends an idempotent request the server answered
  // `overloaded` again, with the same id, after retry_after_ms plus up to as
  // much again of random jitter, so that a crowd's retries spread out
  // rather than return as one burst. It returns false when the request's
  // timeout would pass first: the caller then gets `overloaded`.
  _retryLater(rec, retryAfterMs) {
    const after = Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 1000;
    const wait = after * (1 + Math.random());
    if (localNow() + wait >= rec.deadline) return false;
    rec.conn = 0; // not on the wire: a reconnect meanwhile sends it at once
    rec.retry = setTimeout(() => {
      if (this.pending.get(rec.id) === rec && rec.conn === 0 && this.ready) this._sendRecord(rec);
    }, wait);
    return true;
  }

  _onPong(msg, recv) {
    const p = this._pings.get(msg.id);
    if (!p) return;
    this._pings.delete(msg.id);
    clearTimeout(p.timer);
    if (this.clock.observePong(msg.ts, p.sent, recv)) {
      this._emit('clock', { offset: this.clock.offset, rtt: this.clock.rtt });
    }
  }

  // The room of a volatile message, once its snapshot or replay arrived.
  _stateful(roomId) {
    const r = this.rooms.get(roomId);
    return r && r.seq !== null ? r : null;
  }

  _onSnapshot(msg) {
    const r = this.rooms.get(msg.room);
    if (!r) return;
    r.seq = msg.seq;
    r.title = msg.title ?? '';
    r.products = new Map();
    for (const p of msg.products || []) r.products.set(p.id, this._mergeStock(r, { ...p }));
    r.pinned = msg.pinned ? this._mergeStock(r, { ...msg.pinned }) : null;
    r.sale = msg.sale || null;
    if (typeof msg.viewers === 'number') r.viewers = msg.viewers;
    if (msg.chat) r.chat = { ...msg.chat };
    if (Array.isArray(msg.comments)) {
      // The snapshot holds the visible comments: it replaces ours.
      r.comments = [];
      for (const c of msg.comments) this._addComment(r, c);
    }
    this._setAuction(r, msg.auction || null);
    r.resyncing = false;
    this._emit('snapshot', { room: r, msg });
    this._change(r, 'snapshot');
  }

  _onEvent(msg) {
    const r = this.rooms.get(msg.room);
    if (!r || r.seq === null || typeof msg.seq !== 'number') return;
    if (msg.seq <= r.seq) return; // already applied (replay overlap)
    if (msg.seq !== r.seq + 1) {
      this._resync(r);
      return;
    }
    r.seq = msg.seq;
    switch (msg.type) {
      case 'pinned':
        r.pinned = msg.product ? this._mergeStock(r, { ...msg.product }) : null;
        break;
      case 'unpinned':
        r.pinned = null;
        break;
      case 'sale':
        r.sale = msg.sale || null;
        break;
      case 'catalog': {
        r.products = new Map();
        for (const p of msg.products || []) r.products.set(p.id, this._mergeStock(r, { ...p }));
        if (r.pinned && r.products.has(r.pinned.id)) r.pinned = { ...r.products.get(r.pinned.id) };
        break;
      }
      case 'comment_deleted': {
        const ids = (Array.isArray(msg.comments) ? msg.comments : []).filter((id) => typeof id === 'string');
        for (const id of ids) r.deleted.add(id);
        while (r.deleted.size > 1000) r.deleted.delete(r.deleted.values().next().value);
        const gone = new Set(ids);
        r.comments = r.comments.filter((c) => !gone.has(c.id));
        this._emit(msg.type, { room: r, msg, ids });
        this._change(r, msg.type);
        return;
      }
      case 'chat':
        if (msg.chat) r.chat = { ...msg.chat };
        break;
      case 'auction':
        this._setAuction(r, msg.auction || null);
        break;
    }
    this._emit(msg.type, { room: r, msg });
    this._change(r, msg.type);
  }

  // An `error` message; with `room` and code banned, a ban took this
  // connection out of the room.
  _onError(msg) {
    const r = typeof msg.room === 'string' ? this.rooms.get(msg.room) : null;
    if (r && msg.code === ErrorCode.Banned) {
      r.banned = true;
      r.joined = false;
      this._emit('banned', { room: r });
      this._change(r, 'banned');
    }
    this._emit('servererror', { code: msg.code, message: msg.message, room: msg.room });
  }

  _onComment(msg) {
    const r = this._stateful(msg.room);
    if (!r || !msg.comment) return;
    const c = { ...msg.comment };
    if (!this._addComment(r, c)) return; // a duplicate, or deleted already
    this._emit('comment', { room: r, comment: c });
    this._change(r, 'comment');
  }

  // Inserts a comment in id order; false for a duplicate or a deleted one.
  _addComment(r, c) {
    if (!c || typeof c.id !== 'string' || r.deleted.has(c.id)) return false;
    const list = r.comments;
    let i = list.length;
    while (i > 0 && compareIds(list[i - 1].id, c.id) > 0) i--;
    if (i > 0 && list[i - 1].id === c.id) return false;
    list.splice(i, 0, c);
    const max = this.options.maxComments;
    if (list.length > max) list.splice(0, list.length - max);
    return true;
  }

  // The volatile `bid`: conflated per auction, the highest v wins (v is the
  // auction's count of accepted bids, so an auction object's `bids` is its v).
  _onBid(msg) {
    const r = this._stateful(msg.room);
    if (!r || typeof msg.auction !== 'string' || typeof msg.v !== 'number') return;
    if (r.bid && r.bid.auction === msg.auction && msg.v <= r.bid.v) return;
    const a = r.auction;
    if (a && a.id === msg.auction && msg.v <= (a.bids || 0)) return;
    r.bid = { auction: msg.auction, current: msg.current, leader: msg.leader || null, bids: msg.bids, ends_at: msg.ends_at, v: msg.v };
    if (a && a.id === msg.auction && a.state !== 'ended') {
      Object.assign(a, { current: msg.current, leader: msg.leader || null, bids: msg.bids, ends_at: msg.ends_at });
    }
    this._emit('bid', { room: r, ...r.bid });
    this._change(r, 'bid');
  }

  // Sets the room's auction from a snapshot or an event, keeping a leading
  // bid already seen with a higher v (a bid message may overtake the event).
  _setAuction(r, auction) {
    const a = auction ? { ...auction } : null;
    if (a && r.bid && r.bid.auction === a.id && a.state !== 'ended' && r.bid.v > (a.bids || 0)) {
      const { current, leader, bids, ends_at: endsAt } = r.bid;
      Object.assign(a, { current, leader, bids, ends_at: endsAt });
    }
    if (r.bid && (!a || r.bid.auction !== a.id)) r.bid = null;
    r.auction = a;
  }

  _onStock(msg) {
    const r = this._stateful(msg.room);
    if (!r) return;
    if (this._applyStock(r, msg.product, msg.remaining, msg.v)) {
      this._emit('stock', { room: r, product: msg.product, remaining: msg.remaining, v: msg.v });
      this._change(r, 'stock');
    }
  }

  // Keeps the stock value with the highest v; returns true when applied.
  _applyStock(r, product, remaining, v) {
    if (typeof product !== 'string' || typeof remaining !== 'number') return false;
    v = typeof v === 'number' ? v : 0;
    const known = r.stock.get(product);
    if (known && v <= known.v) return false;
    r.stock.set(product, { remaining, v });
    const p = r.products.get(product);
    if (p) Object.assign(p, { remaining, v });
    if (r.pinned && r.pinned.id === product) Object.assign(r.pinned, { remaining, v });
    return true;
  }

  // A product object from the server: take its stock if newer, else ours.
  _mergeStock(r, p) {
    const v = typeof p.v === 'number' ? p.v : 0;
    const known = r.stock.get(p.id);
    if (!known || v > known.v) {
      if (typeof p.remaining === 'number') r.stock.set(p.id, { remaining: p.remaining, v });
    } else {
      p.remaining = known.remaining;
      p.v = known.v;
    }
    return p;
  }

  _change(room, reason) {
    this._emit('change', { room, reason });
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit('state', { state, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function httpBase(wsURL) {
  const u = new URL(wsURL, globalThis.location?.href);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

function timeoutSignal(ms) {
  return typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(ms) : undefined;
}

function defaultURL() {
  if (typeof location === 'undefined') throw new LiveError(ErrorCode.BadRequest, 'options.url is required outside a browser');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/ws`;
}

// ---- tokens ----

const memoryStore = new Map();

function storage() {
  try {
    const s = window.sessionStorage;
    s.setItem('liveserver.probe', '1');
    s.removeItem('liveserver.probe');
    return s;
  } catch {
    return {
      getItem: (k) => (memoryStore.has(k) ? memoryStore.get(k) : null),
      setItem: (k, v) => memoryStore.set(k, String(v)),
      removeItem: (k) => memoryStore.delete(k),
    };
  }
}

/**
 * The token given in the page's URL fragment (#token=...), if any. It is
 * kept in sessionStorage (so a reload keeps it) and removed from the address
 * bar, where it would be visible and copied along with the link.
 */
export function tokenFromFragment() {
  const store = storage();
  if (typeof location === 'undefined') return store.getItem('liveserver.token');
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    const token = decodeURIComponent(m[1]);
    store.setItem('liveserver.token', token);
    const rest = location.hash.replace(/(^#|&)token=[^&]+/, '$1').replace(/^#&/, '#');
    history.replaceState(null, '', location.pathname + location.search + (rest === '#' ? '' : rest));
    return token;
  }
  return store.getItem('liveserver.token');
}

// The exp of a JWT in Unix milliseconds, or Infinity when it has none or
// is not a JWT. Only read, never trusted: the server verifies.
function jwtExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity;
  } catch {
    return Infinity;
  }
}

/** A user id kept for the life of this browser tab (sessionStorage). */
export function stickySub(key, prefix) {
  const store = storage();
  let sub = store.getItem(key);
  if (!sub) {
    sub = `${prefix}-${randomId().slice(0, 8)}`;
    store.setItem(key, sub);
  }
  return sub;
}

/**
 * A token provider for development mode. It uses the URL fragment's
 * #token=... when there is one; otherwise it asks the server's
 * POST /dev/token for {sub, role, rooms, name}, with a sub kept per tab in
 * sessionStorage so that the user (and buy idempotency) survives reconnects
 * and reloads. It returns null (connect anonymously) when the server is not
 * in development mode.
 */
export function devTokenProvider({ role = 'viewer', rooms = [], sub, name, endpoint = '/dev/token' } = {}) {
  const fixed = tokenFromFragment();
  let cached = null;
  return async ({ refresh = false } = {}) => {
    if (fixed && !refresh) return fixed;
    if (cached && !refresh && jwtExpiry(cached) - 60000 > Date.now()) return cached;
    const body = { sub: sub || stickySub(`liveserver.sub.${role}`, role), role, rooms };
    if (name) body.name = name; // the chat's display name (the token's name claim)
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
      signal: timeoutSignal(10000),
    });
    if (res.status === 404 || res.status === 403 || res.status === 405) return fixed || null;
    if (!res.ok) throw new LiveError(ErrorCode.Unavailable, `POST ${endpoint}: HTTP ${res.status}`);
    const answer = await res.json();
    if (!answer || typeof answer.token !== 'string') throw new LiveError(ErrorCode.Internal, `POST ${endpoint}: no token`);
    cached = answer.token;
    return cached;
  };
}
