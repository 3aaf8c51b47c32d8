// viewer.js: the viewer page. Room from ?room= (default "demo").
import { LiveClient, devTokenProvider, formatMoney, isRoomId, randomId } from './liveclient.js';
import { connLabel, demoRoomState, formatCountdown, saleProgress } from './common.js';

const params = new URLSearchParams(location.search);
const roomId = isRoomId(params.get('room')) ? params.get('room') : 'demo';

const client = new LiveClient({ token: devTokenProvider({ role: 'viewer' }) });
const room = client.join(roomId);

const $ = (id) => document.getElementById(id);
const el = {
  title: $('room-title'),
  roomId: $('room-id'),
  viewers: $('viewer-count'),
  viewerNumber: $('viewer-number'),
  conn: $('conn-state'),
  connText: $('conn-text'),
  ticker: $('ticker'),
  hearts: $('hearts'),
  banner: $('sale-banner'),
  saleTitle: $('sale-title'),
  saleSub: $('sale-sub'),
  saleWhen: $('sale-when'),
  countdown: $('countdown'),
  card: $('pinned-card'),
  empty: $('pinned-empty'),
  img: $('pinned-img'),
  name: $('pinned-name'),
  price: $('pinned-price'),
  was: $('pinned-was'),
  discount: $('pinned-discount'),
  stockFill: $('stock-fill'),
  stockLabel: $('stock-label'),
  buy: $('buy-button'),
  buyLabel: $('buy-label'),
  outcome: $('buy-outcome'),
  creatorLink: $('creator-link'),
  clock: $('clock-info'),
};

el.roomId.textContent = roomId;
el.creatorLink.href = `creator.html?room=${encodeURIComponent(roomId)}`;

// State exposed for tests and for curious developers (open the console).
const demo = {
  room: roomId,
  ...demoRoomState(client, room),
  orders: [], // order ids bought from this page
  lastOutcome: null, // {ok, code, message, order, price, remaining, id}
  purchases: [], // recent `purchase` ticker messages
  clockOffset: null,
  buyPending: false,
  client,
};
window.liveDemo = demo;

const stockOf = (id) => room.stock.get(id)?.remaining;
const maxSeen = new Map(); // product id -> highest remaining seen (the stock bar's scale)

function syncDemo() {
  Object.assign(demo, demoRoomState(client, room));
  demo.clockOffset = client.clockOffset;
}

// ---- connection ----

function renderConn(detail = {}) {
  const { text, kind } = connLabel(client, detail);
  el.conn.dataset.state = client.state;
  el.conn.dataset.kind = kind;
  el.connText.textContent = text;
  document.body.dataset.conn = kind;
}

// ---- header ----

function renderHeader() {
  el.title.textContent = room.error ? `Room “${roomId}” not found` : room.title || (room.seq === null ? 'Connecting…' : roomId);
  document.title = `${room.title || roomId} · Live shopping`;
  el.viewerNumber.textContent = compactCount(room.viewers);
  el.viewers.dataset.count = String(room.viewers);
}

function compactCount(n) {
  return new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 }).format(n || 0);
}

// ---- pinned product card ----

let targetId = null; // the pinned product the card should show
let shownId = null; // the product the card shows
let swapToken = 0;

function renderPinned() {
  const id = room.pinned ? room.pinned.id : null;
  if (id !== targetId) {
    targetId = id;
    swapCard();
  } else if (id !== null && id === shownId) {
    fillCard(room.pinned);
  }
}

async function swapCard() {
  const token = ++swapToken;
  if (!el.card.hidden) {
    el.card.getAnimations().forEach((a) => a.cancel());
    const out = el.card.animate(
      [
        { opacity: 1, transform: 'none' },
        { opacity: 0, transform: 'translateX(-28px) scale(.96)' },
      ],
      { duration: 180, easing: 'ease-in', fill: 'forwards' },
    );
    try {
      await out.finished;
    } catch {
      /* cancelled by a newer swap */
    }
    if (token !== swapToken) return;
  }
  const p = room.pinned;
  el.card.getAnimations().forEach((a) => a.cancel());
  if (!p) {
    shownId = null;
    el.card.hidden = true;
    el.card.dataset.productId = '';
    el.empty.hidden = false;
    renderBuy();
    return;
  }
  shownId = p.id;
  fillCard(p);
  el.empty.hidden = true;
  el.card.hidden = false;
  el.card.animate(
    [
      { opacity: 0, transform: 'translateX(36px) scale(.94)' },
      { opacity: 1, transform: 'translateX(-4px) scale(1.01)', offset: 0.7 },
      { opacity: 1, transform: 'none' },
    ],
    { duration: 420, easing: 'cubic-bezier(.2,.7,.3,1)' },
  );
  el.card.classList.remove('glow');
  void el.card.offsetWidth; // restart the glow animation
  el.card.classList.add('glow');
  renderBuy();
}

// The sale that applies to product id now (scheduled or live), or null.
function saleFor(id) {
  const s = room.sale;
  return s && s.product === id && (s.state === 'live' || s.state === 'scheduled') ? s : null;
}

function fillCard(p) {
  el.card.dataset.productId = p.id;
  if (el.img.getAttribute('src') !== p.image) el.img.src = p.image || 'img/favicon.svg';
  el.img.alt = p.name;
  el.name.textContent = p.name;
  const sale = saleFor(p.id);
  if (sale) {
    el.price.textContent = formatMoney(sale.price, p.currency);
    el.was.textContent = formatMoney(p.price, p.currency);
    el.was.hidden = false;
    const off = p.price > 0 ? Math.round((1 - sale.price / p.price) * 100) : 0;
    el.discount.textContent = off > 0 ? `−${off}%` : 'Sale';
    el.discount.hidden = false;
    el.card.classList.toggle('on-sale', sale.state === 'live');
  } else {
    el.price.textContent = formatMoney(p.price, p.currency);
    el.was.hidden = true;
    el.discount.hidden = true;
    el.card.classList.remove('on-sale');
  }
  el.price.dataset.price = String(sale ? sale.price : p.price);
  renderStock();
}

function renderStock() {
  const p = room.pinned;
  if (!p) return;
  const remaining = stockOf(p.id) ?? p.remaining ?? 0;
  const max = Math.max(maxSeen.get(p.id) || 0, remaining, 1);
  maxSeen.set(p.id, max);
  el.stockFill.style.width = `${Math.max(remaining > 0 ? 4 : 0, (remaining / max) * 100)}%`;
  el.stockLabel.dataset.remaining = String(remaining);
  el.stockLabel.textContent = remaining <= 0 ? 'Sold out' : remaining <= 10 ? `Only ${remaining} left` : `${remaining} left`;
  el.card.classList.toggle('low', remaining > 0 && remaining <= 10);
  el.card.classList.toggle('out', remaining <= 0);
}

// ---- flash sale banner ----

let endedShownUntil = 0;
let lastSaleId = null;

function renderSale() {
  const s = room.sale;
  const now = client.serverNow();
  if (!s) {
    el.banner.hidden = true;
    el.banner.dataset.state = 'none';
    return;
  }
  if (s.state === 'ended') {
    if (lastSaleId !== s.id + ':ended') {
      lastSaleId = s.id + ':ended';
      endedShownUntil = performance.now() + 5000;
    }
    if (performance.now() > endedShownUntil) {
      el.banner.hidden = true;
      el.banner.dataset.state = 'none';
      return;
    }
  } else {
    lastSaleId = s.id;
  }
  const p = room.products.get(s.product);
  const currency = p ? p.currency : 'USD';
  el.banner.hidden = false;
  el.banner.dataset.state = s.state;
  el.banner.dataset.saleId = s.id;
  const name = p ? p.name : s.product;
  const prog = saleProgress(room, s);
  if (s.state === 'ended') {
    el.saleTitle.textContent = 'Flash sale ended';
    el.saleSub.textContent = `${name} · ${Math.min(prog.sold, s.quantity)} of ${s.quantity} sold`;
    el.saleWhen.textContent = '';
    el.countdown.textContent = 'Ended';
    el.countdown.dataset.ms = '0';
    el.countdown.dataset.target = 'none';
    return;
  }
  const target = s.state === 'scheduled' ? s.starts_at : s.ends_at;
  const ms = Math.max(0, target - now);
  el.saleTitle.textContent = s.state === 'scheduled' ? 'Flash sale soon' : 'Flash sale';
  const price = formatMoney(s.price, currency);
  el.saleSub.textContent =
    s.state === 'scheduled'
      ? `${name} at ${price} · ${s.quantity} units · max ${s.per_user_limit} each`
      : `${name} at ${price} · ${prog.left} of ${s.quantity} left`;
  el.saleWhen.textContent = s.state === 'scheduled' ? 'starts in' : 'ends in';
  el.countdown.textContent = ms > 0 ? formatCountdown(ms) : s.state === 'scheduled' ? 'Starting…' : 'Ending…';
  el.countdown.dataset.ms = String(Math.round(ms));
  el.countdown.dataset.target = s.state === 'scheduled' ? 'starts_at' : 'ends_at';
  el.banner.classList.toggle('urgent', s.state === 'live' && ms < 10000);
}

// ---- buying ----
//
// One purchase attempt has one request id. A click while it is pending
// reuses that id (and the button is disabled meanwhile), and an attempt
// whose answer was lost (timeout) keeps its id, so retrying can never buy
// twice: the server answers a repeated id with the first answer. Only a
// click after an answer starts a new purchase with a new id.

let attempt = null; // {id, product} of the purchase not yet answered
let cooldownUntil = 0; // the button rests briefly after an answer
let cooldownLabel = '';
const COOLDOWN_MS = 900; // longer than a double click

function buyState() {
  const p = room.pinned;
  if (!p) return { enabled: false, label: 'Buy now' };
  if (demo.buyPending) return { enabled: false, label: 'Placing order…', busy: true };
  if (performance.now() < cooldownUntil) return { enabled: false, label: cooldownLabel, rest: true };
  const remaining = stockOf(p.id) ?? p.remaining ?? 0;
  if (remaining <= 0) return { enabled: false, label: 'Sold out' };
  const sale = saleFor(p.id);
  if (sale && sale.state === 'scheduled') {
    const ms = sale.starts_at - client.serverNow();
    if (ms > 0) return { enabled: false, label: `Sale starts in ${formatCountdown(ms)}` };
    return { enabled: true, label: `Buy now · ${formatMoney(sale.price, p.currency)}`, sale: true };
  }
  if (sale) return { enabled: true, label: `Buy now · ${formatMoney(sale.price, p.currency)}`, sale: true };
  return { enabled: true, label: `Buy now · ${formatMoney(p.price, p.currency)}` };
}

function renderBuy() {
  const s = buyState();
  el.buy.disabled = !s.enabled;
  el.buy.classList.toggle('busy', !!s.busy);
  el.buy.classList.toggle('sale', !!s.sale);
  el.buy.classList.toggle('rest', !!s.rest);
  el.buy.setAttribute('aria-busy', s.busy ? 'true' : 'false');
  if (el.buyLabel.textContent !== s.label) el.buyLabel.textContent = s.label;
}

const OUTCOME_TEXT = {
  sold_out: 'Sold out: someone was faster this time.',
  limit_exceeded: 'Limit reached: you already have the most this sale allows.',
  sale_not_live: 'The sale is not live yet: wait for the countdown.',
  rate_limited: 'Too many taps: wait a moment and try again.',
  unavailable: 'The store is busy; nothing was taken. Try again.',
  unauthorized: 'You are not signed in: reload the page.',
  forbidden: 'You are not allowed to buy here.',
  not_found: 'This product is no longer available.',
  bad_request: 'The request was refused.',
  internal: 'Something went wrong on our side.',
  timeout: 'No answer yet. Tap again to retry: you will not be charged twice.',
  disconnected: 'Connection lost. Tap again to retry: you will not be charged twice.',
  closed: 'Disconnected.',
};

const SHORT_OUTCOME = {
  sold_out: 'Sold out',
  limit_exceeded: 'Limit reached',
  sale_not_live: 'Sale not live yet',
  timeout: 'No answer',
  disconnected: 'Connection lost',
};

function showOutcome(outcome) {
  demo.lastOutcome = outcome;
  el.outcome.dataset.outcome = outcome.ok ? 'ok' : outcome.code;
  el.outcome.classList.remove('show');
  void el.outcome.offsetWidth;
  el.outcome.classList.add('show');
  el.outcome.classList.toggle('ok', !!outcome.ok);
  el.outcome.classList.toggle('err', !outcome.ok);
  el.outcome.replaceChildren();
  if (outcome.ok) {
    const strong = document.createElement('strong');
    strong.textContent = 'Order placed ✓';
    const code = document.createElement('code');
    code.dataset.testid = 'order-id';
    code.textContent = outcome.order;
    code.title = outcome.order;
    el.outcome.append(strong, ` ${outcome.qty}× ${outcome.name} at ${outcome.priceText} · order `, code);
    el.outcome.dataset.order = outcome.order;
  } else {
    el.outcome.textContent = OUTCOME_TEXT[outcome.code] || outcome.message || outcome.code;
    delete el.outcome.dataset.order;
  }
}

el.buy.addEventListener('click', (ev) => {
  const p = room.pinned;
  // The second click of a double click is never a new purchase, even when
  // the answer to the first came back in between.
  if (ev.detail > 1 || !p || demo.buyPending || performance.now() < cooldownUntil) return;
  if (!attempt || attempt.product !== p.id) attempt = { id: randomId(), product: p.id };
  const { id } = attempt;
  demo.buyPending = true;
  renderBuy(); // disables the button before a second click can land
  client
    .buy({ room: roomId, product: p.id, id })
    .then((reply) => {
      attempt = null;
      demo.orders.push(reply.order);
      showOutcome({
        ok: true,
        id,
        order: reply.order,
        product: reply.product,
        qty: reply.qty,
        price: reply.price,
        remaining: reply.remaining,
        name: p.name,
        priceText: formatMoney(reply.price, p.currency),
      });
      burstHearts(6);
    })
    .catch((err) => {
      // No answer: keep the id so that the retry is the same purchase.
      if (err.code !== 'timeout' && err.code !== 'disconnected') attempt = null;
      showOutcome({ ok: false, id, code: err.code, message: err.message });
    })
    .finally(() => {
      demo.buyPending = false;
      cooldownUntil = performance.now() + COOLDOWN_MS;
      const o = demo.lastOutcome;
      cooldownLabel = o && o.ok ? 'Ordered ✓' : SHORT_OUTCOME[o && o.code] || 'Not bought';
      renderBuy();
    });
});

// ---- "just bought" ticker ----

function addTicker({ product, qty, buyer }) {
  const p = room.products.get(product);
  const entry = { product, qty, buyer, at: Date.now() };
  demo.purchases.unshift(entry);
  demo.purchases.length = Math.min(demo.purchases.length, 20);
  const li = document.createElement('li');
  const av = document.createElement('span');
  av.className = 'tick-avatar';
  av.textContent = (buyer || '?').slice(0, 1).toUpperCase();
  av.style.setProperty('--hue', String(hash(buyer || '') % 360));
  const text = document.createElement('span');
  const b = document.createElement('b');
  b.textContent = buyer || 'Someone';
  text.append(b, ` just bought ${qty > 1 ? `${qty}× ` : ''}${p ? p.name : product}`);
  li.append(av, text);
  el.ticker.prepend(li);
  while (el.ticker.children.length > 3) el.ticker.lastElementChild.remove();
  setTimeout(() => {
    li.classList.add('leaving');
    setTimeout(() => li.remove(), 400);
  }, 7000);
  burstHearts(2);
}

function hash(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}

function burstHearts(n) {
  if (matchMedia('(prefers-reduced-motion: reduce)').matches) return;
  for (let i = 0; i < n; i++) {
    const h = document.createElement('span');
    h.className = 'heart';
    h.style.setProperty('--dx', `${Math.round(Math.random() * 60 - 30)}px`);
    h.style.setProperty('--hue', String([340, 20, 280, 200][i % 4]));
    h.style.animationDelay = `${i * 120}ms`;
    el.hearts.append(h);
    setTimeout(() => h.remove(), 2600 + i * 120);
  }
}

// ---- wiring ----

function renderAll() {
  syncDemo();
  renderHeader();
  renderPinned();
  renderStock();
  renderSale();
  renderBuy();
}

client.on('state', (d) => {
  syncDemo();
  renderConn(d);
});
client.on('change', renderAll);
client.on('purchase', addTicker);
client.on('clock', () => {
  demo.clockOffset = client.clockOffset;
  const off = client.clockOffset;
  el.clock.textContent = off === null ? '' : `clock ${off >= 0 ? '+' : ''}${Math.round(off)} ms${client.rtt !== null ? ` · rtt ${Math.round(client.rtt)} ms` : ''}`;
});

// Countdowns and the reconnect timer tick on their own.
setInterval(() => {
  renderSale();
  renderBuy();
  if (client.state === 'reconnecting') renderConn();
}, 200);

renderAll();
renderConn();
client.connect();
