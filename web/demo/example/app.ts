// example/app.ts: a small viewer-and-creator app written against the
// package's declarations, as an app that installed it would be
// (`npm install /path/to/liveserver/web/demo`). `npm run typecheck`
// compiles it with tsc --noEmit; the @ts-expect-error lines prove that the
// declarations refuse what the protocol does not allow. It is not run.
import {
  LiveClient,
  LiveError,
  ErrorCode,
  formatMoney,
  randomId,
  type Auction,
  type ClientBid,
  type ClientMessage,
  type OrdersPage,
  type RoomSpec,
  type ServerMessage,
  type ServerReplyOk,
  type BidResult,
  type CommentResult,
  type HTTPErrorBody,
} from '@liveserver/liveclient';

const client = new LiveClient({
  url: 'wss://live.example.com/ws',
  token: async ({ refresh }) => (refresh ? fetchToken() : sessionStorage.getItem('token') ?? fetchToken()),
  refreshToken: fetchToken,
  backoffMax: 10_000,
});

async function fetchToken(): Promise<string> {
  const res = await fetch('/my-app/token', { method: 'POST' });
  const body = (await res.json()) as { token: string };
  return body.token;
}

const room = client.join('spring');

client.on('state', ({ state, delay }) => {
  if (state === 'reconnecting') console.log(`reconnecting in ${delay ?? 0} ms`);
});
client.on('change', ({ room: r, reason }) => {
  const pinned = r.pinned ? `${r.pinned.name} ${formatMoney(r.pinned.price, r.pinned.currency)}, ${r.pinned.remaining} left` : 'nothing pinned';
  console.log(`${r.id}@${r.seq ?? '-'} (${reason}): ${pinned}; ${r.viewers} watching`);
  if (r.sale?.state === 'live') console.log(`sale ends in ${r.sale.ends_at - client.serverNow()} ms`);
});
client.on('stock', ({ product, remaining, v }) => console.log(`${product}: ${remaining} (v${v})`));
client.on('purchase', ({ buyer, qty }) => console.log(`${buyer} bought ${qty}`));
client.on('joinerror', ({ room: r, error }) => console.log(`cannot join ${r.id}: ${error.code}`));

// Messages of protocol 1.1 the client does not apply itself: every server
// message narrows on its type.
const auctions = new Map<string, Auction>();
client.on('message', ({ msg }) => onMessage(msg));
function onMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case 'comment':
      console.log(`${msg.comment.author.name}: ${msg.comment.text}`);
      break;
    case 'comment_deleted':
      for (const id of msg.comments) console.log(`remove comment ${id}`);
      break;
    case 'reactions':
      console.log(`hearts: ${msg.counts.heart ?? 0}`);
      break;
    case 'chat_mode':
      console.log(msg.sampled ? `sampled at ${msg.rate}/s` : 'every comment');
      break;
    case 'chat':
      console.log(msg.chat.announcement ?? 'no announcement');
      break;
    case 'auction':
      auctions.set(msg.auction.id, msg.auction);
      if (msg.auction.result?.outcome === 'sold') console.log(`sold to ${msg.auction.result.winner.name} for ${msg.auction.result.amount}`);
      break;
    case 'bid': {
      const a = auctions.get(msg.auction);
      if (a && msg.v > a.bids) console.log(`${msg.leader.name} leads at ${msg.current}, ends ${msg.ends_at}`);
      break;
    }
    case 'snapshot':
      console.log(`${msg.comments?.length ?? 0} comments; auction ${msg.auction?.id ?? 'none'}`);
      break;
    case 'room_closed':
      client.leave(msg.room);
      break;
    case 'error':
      console.log(`server: ${msg.code}${msg.room ? ` in ${msg.room}` : ''}`);
      break;
    case 'reply':
      if (!msg.ok) console.log(`${msg.id}: ${msg.error.code} ${msg.error.retry_after_ms ?? ''}`);
      break;
    case 'pinned':
    case 'unpinned':
    case 'sale':
    case 'catalog':
    case 'stock':
    case 'viewers':
    case 'purchase':
    case 'pong':
      break;
    default: {
      const never: never = msg; // every server message type is handled above
      console.log(never);
    }
  }
}

client.connect();

// Buying once: one id per attempt; a retry of a lost answer reuses it.
let attempt = randomId();
export async function buy(product: string): Promise<void> {
  try {
    const r = await client.buy({ room: room.id, product, id: attempt });
    console.log(`order ${r.order}: ${r.qty} at ${formatMoney(r.price)}, ${r.remaining} left`);
    attempt = randomId();
  } catch (e) {
    if (!(e instanceof LiveError)) throw e;
    switch (e.code) {
      case ErrorCode.SoldOut:
      case 'limit_exceeded':
      case 'sale_not_live':
        attempt = randomId();
        console.log(`no: ${e.code}`);
        break;
      case 'overloaded':
      case 'timeout':
      case 'disconnected':
        console.log(`try again in ${e.reply?.error.retry_after_ms ?? 1000} ms with the same id`);
        break;
      default:
        console.log(e.message);
    }
  }
}

// A creator's actions.
export async function host(): Promise<void> {
  await client.pin('spring', 'tote');
  const { sale } = await client.saleStart('spring', { product: 'tote', price: 999, quantity: 3, per_user_limit: 1, duration_ms: 60_000 });
  console.log(sale.id, sale.state);
  await client.saleStop('spring');
  const c: ServerReplyOk<CommentResult> = await client.request<CommentResult>({ type: 'comment', room: 'spring', text: 'Welcome!' });
  console.log(c.comment.id);
  const bid: ClientBid = { type: 'bid', id: randomId(), room: 'spring', auction: 'a-1', amount: 1500, max: 3000 };
  const b = await client.request<BidResult>(bid);
  console.log(b.leading, b.current);
  await client.request({ type: 'mute', room: 'spring', user: 'h-123', duration_ms: 60_000, purge: true });
}

// The chat, moderation and auctions through the client's calls: the room's
// state (comments, chat, auction) is kept up to date by the client.
client.on('comment', ({ comment }) => console.log(`${comment.author.name}: ${comment.text}`));
client.on('comment_deleted', ({ ids }) => console.log(`removed ${ids.join(', ')}`));
client.on('bid', ({ current, leader, v }) => console.log(`${leader?.name ?? '?'} leads at ${current} (v${v})`));
client.on('banned', ({ room: r }) => console.log(`banned from ${r.id}`));
export async function chat(text: string): Promise<void> {
  try {
    const { comment } = await client.comment(room.id, text);
    console.log(`posted ${comment.id}; ${room.comments.length} on screen; chat ${room.chat.enabled ? 'open' : 'closed'}`);
  } catch (e) {
    if (!(e instanceof LiveError)) throw e;
    if (e.code === ErrorCode.SlowMode || e.code === ErrorCode.RateLimited) console.log(`wait ${e.retryAfterMs ?? 1000} ms`);
    else if (e.code === ErrorCode.Muted) console.log(`muted for ${(e.until ?? 0) - client.serverNow()} ms`);
    else console.log(e.code);
  }
  const sent: boolean = client.react(room.id, 'heart');
  const acked = await client.react(room.id, 'fire', { ack: true });
  console.log(sent, acked.room);
}
export async function moderate(handle: string, commentId: string): Promise<void> {
  await client.deleteComment(room.id, commentId);
  const { until } = await client.mute(room.id, handle, 60_000, { purge: true });
  console.log(`muted until ${until}`);
  await client.ban(room.id, handle);
  await client.chatSettings(room.id, { slow_mode_ms: 10_000, announcement: null });
  console.log(await client.setBlockList(room.id, ['spam']));
}
export async function auction(): Promise<void> {
  const { auction: a } = await client.auctionStart(room.id, { product: 'tote', start_price: 1000, increment: 100, duration_ms: 30_000 });
  const amount = client.nextBid(room.id) ?? a.start_price;
  try {
    const r = await client.bid({ room: room.id, auction: a.id, amount, max: amount * 2 });
    console.log(r.leading ? `leading at ${r.current}` : 'outbid by a proxy');
  } catch (e) {
    if (e instanceof LiveError && e.code === ErrorCode.BidTooLow) console.log(`bid at least ${e.minBid ?? '?'}`);
  }
  console.log(room.auction?.current, room.bid?.v);
}

// The HTTP API with the same types.
export async function orders(token: string): Promise<number> {
  let after: string | null = null;
  let n = 0;
  do {
    const q: string = after ? `?after=${encodeURIComponent(after)}&limit=1000` : '?limit=1000';
    const res = await fetch(`/api/rooms/spring/orders${q}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(((await res.json()) as HTTPErrorBody).error.code);
    const page = (await res.json()) as OrdersPage;
    n += page.orders.filter((o) => o.sale !== null).length;
    after = page.next;
  } while (after);
  return n;
}
export const spec: RoomSpec = { title: 'Spring drop', products: [{ id: 'tote', name: 'Tote', price: 1999, currency: 'USD', image: '/img/tote.svg', stock: 10 }] };

// What the declarations refuse.
// @ts-expect-error: no such event
client.on('stocks', () => {});
// @ts-expect-error: stock details have no price
client.on('stock', (d) => d.price);
// @ts-expect-error: a buy needs a product
void client.buy({ room: 'spring' });
// @ts-expect-error: not a reaction kind
const badReact: ClientMessage = { type: 'react', room: 'spring', kind: 'thumbs' };
// @ts-expect-error: a sale needs its quantity
void client.saleStart('spring', { product: 'tote', price: 1, per_user_limit: 1, duration_ms: 1000 });
// @ts-expect-error: join is not a request (use client.join)
void client.request({ type: 'join', room: 'spring' });
// @ts-expect-error: not a reaction kind
client.react('spring', 'thumbs');
// @ts-expect-error: a bid needs its auction
void client.bid({ room: 'spring', amount: 100 });
console.log(badReact);
