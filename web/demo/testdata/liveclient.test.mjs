// Unit tests of static/liveclient.js with a fake WebSocket, run by
// TestLiveClientJS (demo_test.go) with Node's built-in test runner:
//   node web/demo/testdata/liveclient.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';

globalThis.location = { href: 'http://shop.test/demo/', protocol: 'http:', host: 'shop.test', hash: '', pathname: '/demo/', search: '' };

class FakeWS {
  static OPEN = 1;
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWS.all.push(this);
  }
  send(d) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(d));
  }
  close(code) {
    this.readyState = 3;
    this.closedWith = code;
  }
  // test helpers
  open() {
    this.readyState = 1;
    this.onopen && this.onopen();
  }
  frame(...msgs) {
    this.onmessage && this.onmessage({ data: msgs.map((m) => JSON.stringify(m)).join('\n') });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose && this.onclose({ code, reason: '' });
  }
  ofType(type) {
    return this.sent.filter((m) => m.type === type);
  }
  last(type) {
    const l = this.ofType(type);
    return l[l.length - 1];
  }
}
globalThis.WebSocket = FakeWS;
let snapshotForFetch = null;
globalThis.fetch = async () => ({ ok: true, json: async () => snapshotForFetch });

const { LiveClient, LiveError, ClockSync, formatMoney } = await import('../static/liveclient.js');

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

const products = [
  { id: 'p1', name: 'Tote', price: 1999, currency: 'USD', image: '/demo/img/tote.svg', remaining: 10, v: 1 },
  { id: 'p2', name: 'Shoe', price: 8999, currency: 'USD', image: '/demo/img/sneakers.svg', remaining: 5, v: 1 },
];

// A client connected, authenticated and joined to room demo at seq 5.
async function connected(opts = {}) {
  FakeWS.all = [];
  const client = new LiveClient({ url: 'ws://shop.test/ws', token: 'T', backoffBase: 10, backoffMax: 20, requestTimeout: 500, ...opts });
  const room = client.join('demo');
  client.connect();
  await tick();
  const ws = FakeWS.all[0];
  ws.open();
  assert.equal(ws.sent[0].type, 'auth', 'auth is the first message');
  assert.equal(ws.sent[0].token, opts.token ?? 'T');
  ws.frame({ type: 'reply', id: ws.sent[0].id, ok: true, ts: Date.now() });
  await tick();
  const join = ws.last('join');
  assert.ok(join, 'join sent after auth');
  assert.equal(join.since, undefined, 'first join has no since');
  ws.frame(
    { type: 'reply', id: join.id, ok: true, ts: Date.now() },
    { type: 'snapshot', room: 'demo', seq: 5, ts: Date.now(), title: 'Drop', products, pinned: null, sale: null, viewers: 3 },
  );
  await tick();
  assert.equal(client.state, 'live');
  return { client, room, ws };
}

test('snapshot, batched frames and stock by highest v', async () => {
  const { client, room, ws } = await connected();
  assert.equal(room.seq, 5);
  assert.equal(room.title, 'Drop');
  assert.equal(room.viewers, 3);
  assert.equal(room.stock.get('p1').remaining, 10);
  const seen = [];
  client.on('stock', (d) => seen.push(d.remaining));
  ws.frame(
    { type: 'stock', room: 'demo', product: 'p1', remaining: 7, v: 3, ts: Date.now() },
    { type: 'stock', room: 'demo', product: 'p1', remaining: 9, v: 2, ts: Date.now() },
    { type: 'stock', room: 'demo', product: 'p1', remaining: 8, v: 3, ts: Date.now() },
    { type: 'viewers', room: 'demo', count: 4, ts: Date.now() },
  );
  assert.equal(room.stock.get('p1').remaining, 7);
  assert.equal(room.products.get('p1').remaining, 7);
  assert.deepEqual(seen, [7]);
  assert.equal(room.viewers, 4);
  client.close();
});

test('events in order; duplicates ignored; a gap re-joins with since', async () => {
  const { client, room, ws } = await connected();
  ws.frame({ type: 'pinned', room: 'demo', seq: 6, ts: Date.now(), product: products[1] });
  assert.equal(room.seq, 6);
  assert.equal(room.pinned.id, 'p2');
  ws.frame({ type: 'unpinned', room: 'demo', seq: 6, ts: Date.now() }); // duplicate
  assert.equal(room.pinned.id, 'p2');

  const joinsBefore = ws.ofType('join').length;
  ws.frame({ type: 'unpinned', room: 'demo', seq: 8, ts: Date.now() }); // 7 is missing
  assert.equal(room.seq, 6, 'an event after a gap is not applied');
  assert.equal(room.pinned.id, 'p2');
  const rejoin = ws.last('join');
  assert.equal(ws.ofType('join').length, joinsBefore + 1);
  assert.equal(rejoin.since, 6);
  ws.frame({ type: 'unpinned', room: 'demo', seq: 9, ts: Date.now() }); // still waiting: no second re-join
  assert.equal(ws.ofType('join').length, joinsBefore + 1);
  ws.frame(
    { type: 'reply', id: rejoin.id, ok: true, ts: Date.now() },
    { type: 'sale', room: 'demo', seq: 7, ts: Date.now(), sale: { id: 's', product: 'p2', state: 'live', price: 1, quantity: 1, sold: 0, per_user_limit: 1, starts_at: 0, ends_at: 1 } },
    { type: 'unpinned', room: 'demo', seq: 8, ts: Date.now() },
  );
  assert.equal(room.seq, 8);
  assert.equal(room.pinned, null);
  assert.equal(room.sale.state, 'live');
  client.close();
});

test('requests: reply by id, same id is one request, errors and timeouts', async () => {
  const { client, ws } = await connected();
  const a = client.buy({ room: 'demo', product: 'p1', id: 'buy-1' });
  const b = client.buy({ room: 'demo', product: 'p1', id: 'buy-1' });
  assert.equal(a, b, 'a pending id returns the same promise');
  assert.equal(ws.ofType('buy').length, 1, 'and sends nothing more');
  assert.deepEqual(ws.last('buy'), { type: 'buy', id: 'buy-1', room: 'demo', product: 'p1', qty: 1 });
  ws.frame({ type: 'reply', id: 'buy-1', ok: true, order: 'o-1', product: 'p1', qty: 1, price: 1999, remaining: 9, ts: Date.now() });
  assert.equal((await a).order, 'o-1');

  const c = client.pin('demo', 'p2');
  const pin = ws.last('pin');
  ws.frame({ type: 'reply', id: pin.id, ok: false, error: { code: 'forbidden', message: 'no' }, ts: Date.now() });
  await assert.rejects(c, (e) => e instanceof LiveError && e.code === 'forbidden');

  await assert.rejects(client.unpin('demo', { timeout: 30 }), (e) => e.code === 'timeout');
  client.close();
});

test('overloaded: a buy is sent again with its id after retry_after_ms and jitter, within its timeout', async () => {
  const { client, ws } = await connected();
  const a = client.buy({ room: 'demo', product: 'p1', id: 'buy-o' }, { timeout: 2000 });
  const t0 = now();
  ws.frame({ type: 'reply', id: 'buy-o', ok: false, error: { code: 'overloaded', message: 'busy', retry_after_ms: 40 }, ts: Date.now() });
  await tick(20);
  assert.equal(ws.ofType('buy').length, 1, 'not before retry_after_ms');
  for (let i = 0; i < 100 && ws.ofType('buy').length < 2; i++) await tick(5);
  assert.equal(ws.ofType('buy').length, 2, 'sent again');
  assert.ok(now() - t0 >= 39, 'no sooner than retry_after_ms (timers may round down by 1 ms)');
  assert.equal(ws.last('buy').id, 'buy-o', 'with the same id');
  ws.frame({ type: 'reply', id: 'buy-o', ok: true, order: 'o-o', product: 'p1', qty: 1, price: 1999, remaining: 8, ts: Date.now() });
  assert.equal((await a).order, 'o-o');

  // A retry that would come after the request's timeout is not made.
  const b = client.buy({ room: 'demo', product: 'p1', id: 'buy-p' }, { timeout: 100 });
  ws.frame({ type: 'reply', id: 'buy-p', ok: false, error: { code: 'overloaded', message: 'busy', retry_after_ms: 5000 }, ts: Date.now() });
  await assert.rejects(b, (e) => e.code === 'overloaded');
  // Non-idempotent requests are not retried.
  const c = client.pin('demo', 'p1');
  ws.frame({ type: 'reply', id: ws.last('pin').id, ok: false, error: { code: 'overloaded', message: 'busy', retry_after_ms: 10 }, ts: Date.now() });
  await assert.rejects(c, (e) => e.code === 'overloaded');
  client.close();
});

test('reconnect: backoff, resend buy with the same id, join with since, fresh stock', async () => {
  const { client, room, ws } = await connected();
  ws.frame({ type: 'pinned', room: 'demo', seq: 6, ts: Date.now(), product: products[0] });
  const states = [];
  client.on('state', (d) => states.push(d.state));
  const pending = client.buy({ room: 'demo', product: 'p1', id: 'buy-2' }, { timeout: 2000 });
  const pinning = client.pin('demo', 'p1');
  ws.drop(1006);
  assert.equal(client.state, 'reconnecting');
  await assert.rejects(pinning, (e) => e.code === 'disconnected', 'a non-idempotent request fails on disconnect');

  snapshotForFetch = { products: [{ ...products[0], remaining: 4, v: 9 }] };
  for (let i = 0; i < 50 && FakeWS.all.length < 2; i++) await tick(5);
  const ws2 = FakeWS.all[1];
  assert.ok(ws2, 'reconnected');
  ws2.open();
  assert.equal(ws2.sent[0].type, 'auth');
  ws2.frame({ type: 'reply', id: ws2.sent[0].id, ok: true, ts: Date.now() });
  await tick();
  assert.equal(ws2.last('buy').id, 'buy-2', 'the buy is resent with its id');
  const join = ws2.last('join');
  assert.equal(join.since, 6);
  ws2.frame(
    { type: 'reply', id: join.id, ok: true, ts: Date.now() },
    { type: 'reply', id: 'buy-2', ok: true, order: 'o-2', product: 'p1', qty: 1, price: 1999, remaining: 4, ts: Date.now() },
  );
  assert.equal((await pending).order, 'o-2');
  await tick(20);
  assert.equal(room.stock.get('p1').remaining, 4, 'stock fetched after a resumed join');
  assert.deepEqual(states.slice(0, 1), ['reconnecting']);
  assert.equal(client.state, 'live');
  client.close();
  assert.equal(client.state, 'closed');
});

test('clock offset from ts and pongs', async () => {
  const c = new ClockSync();
  const t0 = now();
  c.observe(t0 + 5000 - 10, t0); // server ahead by ~5 s, message 10 ms old
  assert.ok(Math.abs(c.offset - 4990) < 1);
  c.observePong(t0 + 5000 + 20, t0, t0 + 40); // rtt 40, midpoint t0+20 -> offset 5000
  assert.ok(Math.abs(c.offset - 5000) < 1, `offset ${c.offset}`);
  c.observePong(t0 + 5200, t0 + 100, t0 + 900); // slow ping: ignored for the estimate
  assert.ok(Math.abs(c.offset - 5000) < 1, `offset ${c.offset}`);
  c.reset();
  assert.equal(c.offset, null);

  const { client, ws } = await connected();
  const ping = ws.last('ping');
  assert.ok(ping, 'pings after auth');
  ws.frame({ type: 'pong', id: ping.id, ts: Date.now() + 60000 });
  assert.ok(client.clockOffset > 59000, `offset ${client.clockOffset}`);
  assert.ok(Math.abs(client.serverNow() - (Date.now() + 60000)) < 1000);
  client.close();
});

// An unsigned JWT-shaped token for sub u expiring at exp (Unix seconds):
// the client only reads exp, the server verifies.
const jwt = (exp, sub = 'u') => `e30.${Buffer.from(JSON.stringify({ sub, exp })).toString('base64url')}.sig`;

test('token refresh: a fresh token is sent as auth before exp', async () => {
  const soon = jwt(Math.floor(Date.now() / 1000) + 2); // exp within 2 s
  const fresh = jwt(Math.floor(Date.now() / 1000) + 3600);
  let asked = 0;
  const { client, ws } = await connected({ token: soon, refreshToken: async () => (asked++, fresh) });
  for (let i = 0; i < 300 && ws.ofType('auth').length < 2; i++) await tick(10);
  const refresh = ws.last('auth');
  assert.equal(ws.ofType('auth').length, 2, 'a second auth before exp');
  assert.equal(refresh.token, fresh);
  assert.equal(asked, 1);
  assert.ok(Date.now() < jwtExp(soon), 'sent before exp');
  ws.frame({ type: 'reply', id: refresh.id, ok: true, user: 'u', role: 'viewer', ts: Date.now() });
  await tick();
  assert.equal(await client.getToken(), fresh, 'the fresh token is the current one');
  await tick(50);
  assert.equal(ws.ofType('auth').length, 2, 'the next refresh waits for the fresh token');
  assert.equal(client.state, 'live');
  client.close();
});

test('token refresh: a refused refresh keeps the connection; token_expired reconnects with a fresh token', async () => {
  const soon = jwt(Math.floor(Date.now() / 1000) + 2);
  const other = jwt(Math.floor(Date.now() / 1000) + 3600, 'someone-else');
  const fresh = jwt(Math.floor(Date.now() / 1000) + 3600);
  const tokens = [other, fresh];
  const errors = [];
  const { client, ws } = await connected({ token: soon, refreshToken: async () => tokens.shift() });
  client.on('servererror', (e) => errors.push(e.code));
  for (let i = 0; i < 300 && ws.ofType('auth').length < 2; i++) await tick(10);
  const refresh = ws.last('auth');
  assert.equal(refresh.token, other);
  ws.frame({ type: 'reply', id: refresh.id, ok: false, error: { code: 'forbidden', message: 'another sub' }, ts: Date.now() });
  await tick();
  assert.deepEqual(errors, ['forbidden']);
  assert.equal(client.state, 'live', 'a refused refresh does not drop the connection');
  assert.equal(await client.getToken(), soon);
  // The server expires the connection: the reconnect asks for a fresh token.
  ws.frame({ type: 'error', code: 'token_expired', message: 'expired', ts: Date.now() });
  ws.drop(1008);
  for (let i = 0; i < 50 && FakeWS.all.length < 2; i++) await tick(5);
  const ws2 = FakeWS.all[1];
  ws2.open();
  assert.equal(ws2.sent[0].type, 'auth');
  assert.equal(ws2.sent[0].token, fresh);
  assert.deepEqual(errors, ['forbidden', 'token_expired']);
  client.close();
});

test('token refresh: nothing to refresh with a fixed token', async () => {
  const { client, ws } = await connected({ token: jwt(Math.floor(Date.now() / 1000) + 1) });
  await tick(1200);
  assert.equal(ws.ofType('auth').length, 1, 'no refresh without a way to get a fresh token');
  client.close();
});

test('token refresh: a token of months is not refreshed at once', async () => {
  let asked = 0;
  const { client, ws } = await connected({ token: jwt(Math.floor(Date.now() / 1000) + 90 * 86400), refreshToken: async () => (asked++, 'x') });
  await tick(50);
  assert.equal(asked, 0, 'a delay past 2^31-1 ms must not fire at once');
  assert.equal(ws.ofType('auth').length, 1);
  client.close();
});

function jwtExp(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp * 1000;
}

test('chat: comments in id order once, deletions (also of a late copy), settings, mode, reactions', async () => {
  const { client, room, ws } = await connected();
  const author = { id: 'h1', name: 'Ann', role: 'viewer' };
  const c = (id, text) => ({ id, author, text, at: Date.now() });
  ws.frame({ type: 'snapshot', room: 'demo', seq: 5, ts: Date.now(), title: 'Drop', products, pinned: null, sale: null, viewers: 3,
    chat: { enabled: true, slow_mode_ms: 0, announcement: 'Hi' }, comments: [c('8', 'a'), c('9', 'b')], auction: null });
  assert.deepEqual(room.comments.map((x) => x.id), ['8', '9']);
  assert.equal(room.chat.announcement, 'Hi');
  const seen = [];
  client.on('comment', (d) => seen.push(d.comment.id));
  ws.frame(
    { type: 'comment', room: 'demo', ts: Date.now(), comment: c('11', 'd') },
    { type: 'comment', room: 'demo', ts: Date.now(), comment: c('10', 'c') }, // reordered
    { type: 'comment', room: 'demo', ts: Date.now(), comment: c('11', 'd') }, // duplicate
  );
  assert.deepEqual(room.comments.map((x) => x.id), ['8', '9', '10', '11'], 'numeric ids in order: 10 after 9');
  assert.deepEqual(seen, ['11', '10']);
  ws.frame({ type: 'comment_deleted', room: 'demo', seq: 6, ts: Date.now(), comments: ['9', '12'] });
  assert.deepEqual(room.comments.map((x) => x.id), ['8', '10', '11']);
  ws.frame({ type: 'comment', room: 'demo', ts: Date.now(), comment: c('12', 'late copy of a deleted comment') });
  assert.deepEqual(room.comments.map((x) => x.id), ['8', '10', '11'], 'a deleted comment never comes back');
  ws.frame({ type: 'chat', room: 'demo', seq: 7, ts: Date.now(), chat: { enabled: false, slow_mode_ms: 5000, announcement: null } });
  assert.deepEqual(room.chat, { enabled: false, slow_mode_ms: 5000, announcement: null });
  assert.equal(room.seq, 7);
  ws.frame(
    { type: 'chat_mode', room: 'demo', ts: Date.now(), sampled: true, rate: 50 },
    { type: 'reactions', room: 'demo', ts: Date.now(), counts: { heart: 12, fire: 2 } },
  );
  assert.deepEqual(room.chatMode, { sampled: true, rate: 50 });
  assert.deepEqual(room.reactions, { heart: 12, fire: 2 });

  // Requests: the error's extra fields reach the LiveError.
  const p = client.comment('demo', 'hello');
  const sent = ws.last('comment');
  assert.deepEqual(sent, { type: 'comment', id: sent.id, room: 'demo', text: 'hello' });
  ws.frame({ type: 'reply', id: sent.id, ok: false, error: { code: 'muted', message: 'muted', until: 1234 }, ts: Date.now() });
  await assert.rejects(p, (e) => e.code === 'muted' && e.until === 1234 && e.retryAfterMs === null);
  const q = client.comment('demo', 'again');
  ws.frame({ type: 'reply', id: ws.last('comment').id, ok: false, error: { code: 'slow_mode', message: 'slow', retry_after_ms: 4000 }, ts: Date.now() });
  await assert.rejects(q, (e) => e.code === 'slow_mode' && e.retryAfterMs === 4000);
  assert.equal(client.react('demo', 'heart'), true);
  assert.deepEqual(ws.last('react'), { type: 'react', room: 'demo', kind: 'heart' });
  assert.throws(() => client.react('demo', 'angry'), (e) => e.code === 'bad_request');
  const m = client.mute('demo', 'h1', 60000, { purge: true });
  assert.deepEqual({ ...ws.last('mute'), id: 0 }, { type: 'mute', id: 0, room: 'demo', user: 'h1', duration_ms: 60000, purge: true });
  ws.frame({ type: 'reply', id: ws.last('mute').id, ok: true, until: 99, ts: Date.now() });
  assert.equal((await m).until, 99);

  // A ban takes the connection out of the room.
  const banned = [];
  client.on('banned', (d) => banned.push(d.room.id));
  ws.frame({ type: 'error', room: 'demo', code: 'banned', message: 'banned', ts: Date.now() });
  assert.deepEqual(banned, ['demo']);
  assert.equal(room.banned, true);
  client.close();
});

test('auction: the leading bid with the highest v wins; events and snapshots merge; bids are resent with their id', async () => {
  const { client, room, ws } = await connected();
  const auction = { id: 'a1', product: 'p1', state: 'live', start_price: 1000, increment: 100, reserve_met: true, current: null,
    leader: null, bids: 0, starts_at: 1, ends_at: 10_000, extend_ms: 10_000, sudden_death: false, result: null };
  ws.frame({ type: 'auction', room: 'demo', seq: 6, ts: Date.now(), auction });
  assert.equal(room.auction.state, 'live');
  assert.equal(client.nextBid('demo'), 1000, 'the first bid is at least start_price');
  const leader = (id) => ({ id, name: id, role: 'viewer' });
  const bids = [];
  client.on('bid', (d) => bids.push(d.v));
  ws.frame(
    { type: 'bid', room: 'demo', ts: Date.now(), auction: 'a1', current: 1200, leader: leader('x'), bids: 2, ends_at: 12_000, v: 2 },
    { type: 'bid', room: 'demo', ts: Date.now(), auction: 'a1', current: 1000, leader: leader('y'), bids: 1, ends_at: 10_000, v: 1 }, // late
    { type: 'bid', room: 'demo', ts: Date.now(), auction: 'a1', current: 1200, leader: leader('x'), bids: 2, ends_at: 12_000, v: 2 }, // again
  );
  assert.deepEqual(bids, [2]);
  assert.equal(room.auction.current, 1200);
  assert.equal(room.auction.leader.id, 'x');
  assert.equal(room.auction.ends_at, 12_000, 'anti-sniping extension');
  assert.equal(client.nextBid('demo'), 1300);
  // A snapshot from before the last bid keeps the newer bid.
  ws.frame({ type: 'snapshot', room: 'demo', seq: 6, ts: Date.now(), title: 'Drop', products, pinned: null, sale: null, viewers: 3,
    auction: { ...auction, current: 1000, leader: leader('y'), bids: 1 } });
  assert.equal(room.auction.current, 1200);
  assert.equal(room.auction.bids, 2);
  // The end is final.
  ws.frame({ type: 'auction', room: 'demo', seq: 7, ts: Date.now(), auction: { ...auction, state: 'ended', current: 1500, leader: leader('z'), bids: 3,
    result: { outcome: 'sold', amount: 1500, winner: leader('z'), order: 'o1' } } });
  assert.equal(room.auction.state, 'ended');
  assert.equal(room.auction.result.winner.id, 'z');
  assert.equal(client.nextBid('demo'), null);

  const b = client.bid({ room: 'demo', auction: 'a1', amount: 1300, max: 2000, id: 'bid-1' });
  assert.deepEqual(ws.last('bid'), { type: 'bid', id: 'bid-1', room: 'demo', auction: 'a1', amount: 1300, max: 2000 });
  ws.frame({ type: 'reply', id: 'bid-1', ok: false, error: { code: 'bid_too_low', message: 'low', min_bid: 1600 }, ts: Date.now() });
  await assert.rejects(b, (e) => e.code === 'bid_too_low' && e.minBid === 1600);
  const b2 = client.bid({ room: 'demo', auction: 'a1', amount: 1600, id: 'bid-2' });
  assert.equal(ws.last('bid').max, undefined, 'no max: a plain bid');
  ws.drop();
  await tick(40);
  const ws2 = FakeWS.all[FakeWS.all.length - 1];
  ws2.open();
  ws2.frame({ type: 'reply', id: ws2.sent[0].id, ok: true, ts: Date.now() });
  await tick();
  assert.equal(ws2.last('bid').id, 'bid-2', 'a bid is sent again with its id after a reconnect');
  ws2.frame({ type: 'reply', id: 'bid-2', ok: true, amount: 1600, leading: true, current: 1600, ends_at: 13_000, ts: Date.now() });
  assert.equal((await b2).leading, true);
  client.close();
});

test('money in minor units', () => {
  assert.equal(formatMoney(1999, 'USD', 'en-US'), '$19.99');
  assert.equal(formatMoney(500, 'JPY', 'en-US'), '¥500');
});
