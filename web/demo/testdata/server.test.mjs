// Tests of liveclient.js against a real liveserver node (the binary, with a
// JWT secret, started by harness.mjs): join, resume with since, reconnect
// with backoff after a node restart, stock by highest v, buy with an
// idempotent retry. Run by TestLiveClientJS (demo_test.go), or:
//   node --experimental-websocket --test web/demo/testdata/*.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Node, Proxy, signToken, sleep, startRedis, until } from './harness.mjs';

if (typeof WebSocket === 'undefined') throw new Error('no global WebSocket: run Node.js 22+, or 20 with --experimental-websocket');
const { LiveClient, randomId } = await import('../static/liveclient.js');

let node;
before(async () => {
  node = await Node.start();
});
after(async () => {
  await node?.stop();
});

const products = [
  { id: 'p1', name: 'Tote', price: 1999, currency: 'USD', image: '/demo/img/tote.svg', stock: 40 },
  { id: 'p2', name: 'Shoe', price: 8999, currency: 'USD', image: '/demo/img/sneakers.svg', stock: 5 },
];

// A fresh room of its own for each test, and its creator's token.
let rooms = 0;
async function newRoom(n = node) {
  const id = `js-${process.pid}-${++rooms}`;
  const creator = signToken({ sub: `creator-${id}`, role: 'creator', rooms: [id] });
  await n.api('PUT', `/api/rooms/${id}`, creator, { title: `Room ${id}`, products });
  return { id, creator };
}

// What every client of these tests received, checked at the end against
// the declarations.
const everyClient = [];

// A client whose WebSocket records what it sends; closed after the test.
function newClient(t, url, sub = `viewer-${randomId().slice(0, 8)}`, options = {}) {
  const sent = [];
  class RecordingWS extends WebSocket {
    send(d) {
      sent.push(JSON.parse(d));
      super.send(d);
    }
  }
  const received = [];
  const states = [];
  everyClient.push(received);
  const client = new LiveClient({
    url,
    token: signToken({ sub }),
    WebSocket: RecordingWS,
    backoffBase: 100,
    backoffMax: 800,
    ...options,
  });
  client.on('message', ({ msg }) => received.push(msg));
  client.on('state', (s) => states.push(s));
  t.after(() => client.close());
  return { client, sent, received, states, sub };
}

// The room's state as the node has it.
const snapshotOf = (id, n = node) => n.api('GET', `/api/rooms/${id}`);

function assertSameState(r, snap) {
  assert.equal(r.seq, snap.seq, 'seq');
  assert.equal(r.title, snap.title, 'title');
  assert.equal(r.pinned?.id ?? null, snap.pinned?.id ?? null, 'pinned');
  assert.equal(r.sale?.id ?? null, snap.sale?.id ?? null, 'sale');
  for (const p of snap.products) {
    assert.deepEqual(r.stock.get(p.id), { remaining: p.remaining, v: p.v }, `stock of ${p.id}`);
  }
}

test('join: a snapshot, then every event in order', async (t) => {
  const { id, creator } = await newRoom();
  const { client, received } = newClient(t, node.ws);
  const room = client.join(id);
  client.connect();
  await until('live', () => client.state === 'live' && room.seq !== null);
  assertSameState(room, await snapshotOf(id));
  const seq0 = room.seq;

  await node.api('POST', `/api/rooms/${id}/pin`, creator, { product: 'p2' });
  await node.api('DELETE', `/api/rooms/${id}/pin`, creator);
  await node.api('POST', `/api/rooms/${id}/pin`, creator, { product: 'p1' });
  await until('three events', () => room.seq === seq0 + 3);
  assert.equal(room.pinned.id, 'p1');
  const events = received.filter((m) => m.room === id && typeof m.seq === 'number').map((m) => `${m.type}:${m.seq}`);
  assert.deepEqual(events, [`snapshot:${seq0}`, `pinned:${seq0 + 1}`, `unpinned:${seq0 + 2}`, `pinned:${seq0 + 3}`]);
  assert.ok(received.every((m) => typeof m.ts === 'number'), 'every server message has ts');
});

test('resume with since: a lost connection gets a replay of what it missed, not a snapshot', async (t) => {
  const { id, creator } = await newRoom();
  const proxy = await Proxy.start(node.port);
  t.after(() => proxy.close());
  const { client, sent, received } = newClient(t, proxy.url);
  const room = client.join(id);
  client.connect();
  await until('live', () => client.state === 'live' && room.seq !== null);
  const since = room.seq;

  proxy.cutAll();
  await until('the client to notice', () => client.state === 'reconnecting');
  const mark = received.length;
  await node.api('POST', `/api/rooms/${id}/pin`, creator, { product: 'p2' });
  await node.api('POST', `/api/rooms/${id}/sales`, creator, { product: 'p1', price: 999, quantity: 3, per_user_limit: 1, duration_ms: 60000, starts_in_ms: 60000 });
  const buyer = signToken({ sub: 'resume-buyer' });
  await node.api('POST', `/api/rooms/${id}/purchases`, buyer, { id: 'b-1', product: 'p2', qty: 2 });
  proxy.restore();

  await until('the missed events', () => room.seq === since + 2 && client.state === 'live');
  await until('the missed stock (read over HTTP: stock is not replayed)', () => room.stock.get('p2')?.remaining === 3);
  const joins = sent.filter((m) => m.type === 'join' && m.room === id);
  assert.equal(joins.length, 2);
  assert.equal(joins[0].since, undefined);
  assert.equal(joins[1].since, since, 'the second join resumes from the last applied seq');
  const after = received.slice(mark).filter((m) => m.room === id && typeof m.seq === 'number');
  assert.deepEqual(after.map((m) => `${m.type}:${m.seq}`), [`pinned:${since + 1}`, `sale:${since + 2}`], 'a replay, no snapshot');
  assert.equal(room.sale.state, 'scheduled');
  assertSameState(room, await snapshotOf(id));
});

test('reconnect with jittered exponential backoff after a node restart, then resume with since', async (t) => {
  // Two nodes of a cluster on a real redis-server: the client's node
  // restarts while the other takes the creator's actions.
  const redis = await startRedis();
  if (!redis) return t.skip('redis-server is not installed');
  t.after(() => redis.stop());
  const a = await Node.start(redis.url);
  t.after(() => a.stop());
  const b = await Node.start(redis.url);
  t.after(() => b.stop());
  const { id, creator } = await newRoom(b);
  const { client, states, sent, received } = newClient(t, a.ws);
  const room = client.join(id);
  client.connect();
  await until('live', () => client.state === 'live' && room.seq !== null);
  await b.api('POST', `/api/rooms/${id}/pin`, creator, { product: 'p2' });
  await until('the pin, through Redis', () => room.pinned?.id === 'p2');
  const since = room.seq;

  await a.stop(); // drains: every connection closed with 1001
  await until('four failed attempts', () => states.filter((s) => s.state === 'reconnecting').length >= 4, 20000);
  const waits = states.filter((s) => s.state === 'reconnecting');
  assert.equal(waits[0].code, 1001, 'the node said it was going away');
  // Equal jitter: attempt n waits between half and all of min(max, base * 2^(n-1)).
  for (const [i, s] of waits.entries()) {
    const cap = Math.min(800, 100 * 2 ** i);
    assert.equal(s.attempt, i + 1);
    assert.ok(s.delay >= cap / 2 && s.delay <= cap, `attempt ${s.attempt} waited ${s.delay} ms, want ${cap / 2} to ${cap}`);
  }
  const mark = received.length;
  await b.api('POST', `/api/rooms/${id}/pin`, creator, { product: 'p1' });
  await b.api('POST', `/api/rooms/${id}/purchases`, signToken({ sub: 'restart-buyer' }), { id: 'r-1', product: 'p1' });

  await a.start();
  await until('live again, caught up', () => client.state === 'live' && room.seq === since + 1 && room.pinned?.id === 'p1', 20000);
  const joins = sent.filter((m) => m.type === 'join');
  assert.equal(joins.at(-1).since, since, 'the rejoin resumes from the last applied seq');
  const events = received.slice(mark).filter((m) => typeof m.seq === 'number').map((m) => `${m.type}:${m.seq}`);
  assert.deepEqual(events, [`pinned:${since + 1}`], 'a replay, no snapshot');
  await until('the stock sold meanwhile', () => room.stock.get('p1')?.remaining === 39);
  assertSameState(room, await snapshotOf(id, a));
});

test('stock: only a higher v is applied, and the client ends at the node\'s stock', async (t) => {
  const { id } = await newRoom();
  const { client, received } = newClient(t, node.ws);
  const room = client.join(id);
  const applied = [];
  client.on('stock', ({ product, remaining, v }) => applied.push({ product, remaining, v }));
  client.connect();
  await until('live', () => client.state === 'live' && room.seq !== null);

  const buyers = Array.from({ length: 12 }, (_, i) => signToken({ sub: `stock-buyer-${i}` }));
  await Promise.all(buyers.map((tok, i) => node.api('POST', `/api/rooms/${id}/purchases`, tok, { id: `s-${i}`, product: 'p1' })));
  const snap = await snapshotOf(id);
  const p1 = snap.products.find((p) => p.id === 'p1');
  assert.equal(p1.remaining, 40 - 12);
  await until('the last stock', () => room.stock.get('p1')?.v === p1.v);
  assert.equal(room.stock.get('p1').remaining, p1.remaining);
  assert.equal(room.products.get('p1').remaining, p1.remaining);
  let last = -1;
  for (const s of applied.filter((s) => s.product === 'p1')) {
    assert.ok(s.v > last, `stock applied out of order: v ${s.v} after ${last}`);
    last = s.v;
  }
  // A stock message with an older v than the one known is not applied.
  const stale = received.filter((m) => m.type === 'stock' && m.product === 'p1')[0];
  client._onMessage({ ...stale, remaining: 999 }, performance.timeOrigin + performance.now());
  assert.equal(room.stock.get('p1').remaining, p1.remaining);
});

test('buy: an answer lost with the connection is retried with the same id and taken once', async (t) => {
  const { id, creator } = await newRoom();
  const proxy = await Proxy.start(node.port);
  t.after(() => proxy.close());
  const { client, sent, sub } = newClient(t, proxy.url);
  const room = client.join(id);
  client.connect();
  await until('live', () => client.state === 'live' && room.seq !== null);

  proxy.blackhole = true; // the node's answers are lost from now on
  const buyId = randomId();
  const bought = client.buy({ room: id, product: 'p2', qty: 2, id: buyId });
  const ordersOf = async () => (await node.api('GET', `/api/rooms/${id}/orders`, creator)).orders.filter((o) => o.user === sub);
  await until('the node to take the order', async () => (await ordersOf()).length === 1);
  proxy.cutAll();
  proxy.restore();

  const reply = await bought;
  const orders = await ordersOf();
  assert.equal(orders.length, 1, 'one order');
  assert.equal(reply.order, orders[0].order, 'the retry got the first answer');
  assert.equal(reply.remaining, 3);
  const buys = sent.filter((m) => m.type === 'buy');
  assert.equal(buys.length, 2, 'sent twice');
  assert.ok(buys.every((m) => m.id === buyId), 'with the same id');
  // Asked again by the app with the same id: the same answer, no stock taken.
  const again = await client.buy({ room: id, product: 'p2', qty: 2, id: buyId });
  assert.equal(again.order, reply.order);
  assert.equal((await snapshotOf(id)).products.find((p) => p.id === 'p2').remaining, 3);
  assert.equal((await ordersOf()).length, 1);
});

test('requests: a server error rejects with its protocol code', async (t) => {
  const { id } = await newRoom();
  const { client } = newClient(t, node.ws);
  client.join(id);
  client.connect();
  await until('live', () => client.state === 'live');
  await assert.rejects(client.pin(id, 'p1'), (e) => e.name === 'LiveError' && e.code === 'forbidden');
  await assert.rejects(client.buy({ room: id, product: 'nope' }), (e) => e.code === 'not_found');
  const missing = client.join('no-such-room-here');
  await until('joinerror', () => missing.error !== null);
  assert.equal(missing.error.code, 'not_found');
  await sleep(0);
});

// The declarations of the server messages (liveclient.d.ts), read from the
// file: type -> {fields, required}. Replies are left out (their result
// fields depend on the request).
function declaredServerMessages() {
  const dts = readFileSync(new URL('../liveclient.d.ts', import.meta.url), 'utf8');
  const fieldsOf = (body) => [...body.matchAll(/^\s+(\w+)(\?)?:/gm)].map((m) => ({ name: m[1], optional: !!m[2] }));
  const base = {};
  for (const m of dts.matchAll(/^interface (Stamped|RoomEvent)(?: extends (\w+))? \{([^}]*)\}/gm)) {
    base[m[1]] = [...(base[m[2]] || []), ...fieldsOf(m[3])];
  }
  const out = {};
  for (const m of dts.matchAll(/^export interface Server\w+ extends (\w+) \{([^}]*)\}/gm)) {
    const fields = [...(base[m[1]] || []), ...fieldsOf(m[2])];
    const type = /type: '(\w+)'/.exec(m[2])[1];
    if (type === 'reply') continue;
    out[type] = { fields: new Set(fields.map((f) => f.name)), required: fields.filter((f) => !f.optional).map((f) => f.name) };
  }
  return out;
}

test('every message the node sent in these tests is declared in liveclient.d.ts, field by field', () => {
  const declared = declaredServerMessages();
  assert.ok(declared.snapshot && declared.stock && declared.pong, 'the declarations were read');
  const seen = new Set();
  for (const msg of everyClient.flat()) {
    if (msg.type === 'reply') continue;
    const d = declared[msg.type];
    assert.ok(d, `server message type ${msg.type} is not declared`);
    seen.add(msg.type);
    for (const k of Object.keys(msg)) assert.ok(d.fields.has(k), `${msg.type}.${k} is not declared`);
    for (const k of d.required) assert.ok(k in msg, `${msg.type} lacks the declared field ${k}`);
  }
  for (const t of ['snapshot', 'pinned', 'unpinned', 'sale', 'stock', 'pong']) assert.ok(seen.has(t), `no ${t} seen`);
});
