// viewer.js: the viewer page. Room from ?room= (default "demo").
import { LiveClient, currencyDigits, devTokenProvider, formatMoney, isRoomId, randomId } from './liveclient.js';
import { connLabel, demoRoomState, formatCountdown, saleProgress } from './common.js';

const params = new URLSearchParams(location.search);
const roomId = isRoomId(params.get('room')) ? params.get('room') : 'demo';
// ?name= is the chat's display name (the dev token's name claim); without
// it the server shows a masked label.
const displayName = (params.get('name') || '').trim().slice(0, 32) || undefined;

const client = new LiveClient({ token: devTokenProvider({ role: 'viewer', name: displayName }) });
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
  announcement: $('announcement'),
  announcementText: $('announcement-text'),
  chatMode: $('chat-mode'),
  comments: $('comments'),
  chatError: $('chat-error'),
  composer: $('composer'),
  commentInput: $('comment-input'),
  commentSend: $('comment-send'),
  reactions: $('reactions'),
  floaters: $('floaters'),
  auction: $('auction-card'),
  auctionTitle: $('auction-title'),
  auctionCountdown: $('auction-countdown'),
  auctionExtended: $('auction-extended'),
  auctionImg: $('auction-img'),
  auctionName: $('auction-name'),
  auctionLabel: $('auction-label'),
  auctionCurrent: $('auction-current'),
  auctionMeta: $('auction-meta'),
  auctionStatus: $('auction-status'),
  auctionForm: $('auction-form'),
  auctionMax: $('auction-max'),
  bidButton: $('bid-button'),
  bidLabel: $('bid-label'),
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
  // Chat and auctions (version 1.1).
  comments: [], // the comments on screen: {id, author, text}
  myHandle: null, // this user's author handle in the room, from a reply
  lastComment: null, // {ok, id, code, message, until, retryAfterMs}
  reactionTotals: { heart: 0, fire: 0, clap: 0, laugh: 0, wow: 0 }, // counted by the room since this page loaded
  auction: null, // a copy of the room's auction
  bidPending: false,
  lastBid: null, // {ok, id, code, amount, leading, current, minBid}
  auctionStatus: '', // '', leading, outbid, won, lost
  auctionExtensions: 0, // times this page saw ends_at move later
  client,
};
window.liveDemo = demo;

const stockOf = (id) => room.stock.get(id)?.remaining;
const maxSeen = new Map(); // product id -> highest remaining seen (the stock bar's scale)

function syncDemo() {
  Object.assign(demo, demoRoomState(client, room));
  demo.clockOffset = client.clockOffset;
  demo.comments = room.comments.map((c) => ({ id: c.id, author: c.author, text: c.text }));
  demo.auction = room.auction ? { ...room.auction } : null;
  demo.chat = { ...room.chat };
  demo.chatMode = { ...room.chatMode };
  demo.banned = room.banned;
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

// ---- chat ----
//
// The comments come from the client's room state (room.comments: in id
// order, once each, minus the deleted ones), so a deletion, a snapshot or
// a resume all show the same thing. The list keeps one element per comment
// id and shows the last 30.

const SHOWN_COMMENTS = 30;
const commentNodes = new Map(); // comment id -> <li>

function commentNode(c) {
  const li = document.createElement('li');
  li.dataset.commentId = c.id;
  li.dataset.testid = 'comment';
  const role = c.author && c.author.role;
  if (role && role !== 'viewer') li.classList.add(`role-${role}`);
  const av = document.createElement('span');
  av.className = 'c-avatar';
  const name = (c.author && c.author.name) || 'someone';
  av.textContent = name.slice(0, 1).toUpperCase();
  av.style.setProperty('--hue', String(hash((c.author && c.author.id) || name) % 360));
  const body = document.createElement('span');
  body.className = 'c-body';
  const who = document.createElement('b');
  who.className = 'c-name';
  who.textContent = name;
  if (role === 'creator' || role === 'moderator' || role === 'admin') {
    const badge = document.createElement('span');
    badge.className = 'c-badge';
    badge.textContent = role === 'creator' ? 'Host' : role === 'moderator' ? 'Mod' : 'Admin';
    who.append(badge);
  }
  const text = document.createElement('span');
  text.className = 'c-text';
  text.dataset.testid = 'comment-text';
  text.textContent = c.text;
  body.append(who, text);
  li.append(av, body);
  return li;
}

function renderComments() {
  const shown = room.comments.slice(-SHOWN_COMMENTS);
  const keep = new Set(shown.map((c) => c.id));
  for (const [id, li] of commentNodes) {
    if (!keep.has(id)) {
      li.remove();
      commentNodes.delete(id);
    }
  }
  shown.forEach((c, i) => {
    let li = commentNodes.get(c.id);
    if (!li) {
      li = commentNode(c);
      commentNodes.set(c.id, li);
    }
    li.classList.toggle('mine', !!demo.myHandle && c.author && c.author.id === demo.myHandle);
    if (el.comments.children[i] !== li) el.comments.insertBefore(li, el.comments.children[i] || null);
  });
  el.comments.classList.toggle('overflow', el.comments.scrollHeight > el.comments.clientHeight);
}

function renderChat() {
  renderComments();
  const a = room.chat && room.chat.announcement;
  el.announcement.hidden = !a;
  el.announcementText.textContent = a || '';
  el.announcement.dataset.text = a || '';
  el.chatMode.hidden = !room.chatMode.sampled;
  const closed = room.chat && room.chat.enabled === false;
  const off = room.banned || closed || room.seq === null;
  el.commentInput.disabled = room.banned;
  el.commentSend.disabled = off || commentPending;
  el.commentInput.placeholder = room.banned ? 'You were removed from this room' : closed ? 'The chat is closed' : 'Say something…';
  el.composer.dataset.state = room.banned ? 'banned' : closed ? 'closed' : 'open';
  if (room.banned && (!demo.lastComment || demo.lastComment.code !== 'banned')) {
    demo.lastComment = { ok: false, code: 'banned', message: 'banned' };
  }
  renderChatError();
}

// The refusal of the last comment, kept on screen while it applies: a
// rate limit or slow mode until retry_after_ms passed, a mute until
// `until` on the server's clock.
let chatErrorUntil = 0; // performance.now() when a retry_after_ms ends

function chatErrorText(o) {
  const now = client.serverNow();
  switch (o.code) {
    case 'rate_limited':
    case 'slow_mode': {
      const left = chatErrorUntil - performance.now();
      if (left <= 0) return '';
      const s = Math.ceil(left / 1000);
      return o.code === 'slow_mode' ? `Slow mode is on: you can comment again in ${s}s.` : `Slow down: try again in ${s}s.`;
    }
    case 'muted':
      if (o.until && o.until <= now) return '';
      return o.until ? `You are muted for ${formatCountdown(o.until - now)}.` : 'You are muted.';
    case 'banned':
      return 'You were removed from this room by a moderator.';
    case 'blocked':
      return 'Your comment has a word this room does not allow.';
    case 'chat_closed':
      return 'The chat is closed right now.';
    case 'forbidden':
      return 'You cannot comment here.';
    case 'timeout':
    case 'disconnected':
      return 'Not sent: the connection dropped. Send it again.';
    case 'overloaded':
    case 'unavailable':
      return 'The chat is busy: try again in a moment.';
    default:
      return o.message || o.code;
  }
}

function renderChatError() {
  const o = demo.lastComment;
  const text = o && !o.ok ? chatErrorText(o) : '';
  el.chatError.hidden = !text;
  el.chatError.dataset.code = text ? o.code : '';
  if (el.chatError.textContent !== text) el.chatError.textContent = text;
}

let commentPending = false;

el.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = el.commentInput.value.trim();
  if (!text || commentPending) return;
  commentPending = true;
  renderChat();
  client
    .comment(roomId, text)
    .then((reply) => {
      const c = reply.comment || {};
      if (c.author && c.author.id) demo.myHandle = c.author.id;
      demo.lastComment = { ok: true, id: c.id };
      if (el.commentInput.value.trim() === text) el.commentInput.value = '';
    })
    .catch((err) => {
      // Keep the text: the user may send it again once allowed.
      demo.lastComment = { ok: false, code: err.code, message: err.message, until: err.until, retryAfterMs: err.retryAfterMs };
      chatErrorUntil = performance.now() + (err.retryAfterMs || 0);
    })
    .finally(() => {
      commentPending = false;
      renderChat();
    });
});

// ---- reactions ----

const REACTION_HUES = { heart: 340, fire: 28, clap: 48, laugh: 45, wow: 198 };

function floatReaction(kind, delay = 0) {
  if (matchMedia('(prefers-reduced-motion: reduce)').matches) return;
  if (el.floaters.childElementCount > 40) return; // a storm costs the same as a breeze
  const svgNS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('width', '30');
  svg.setAttribute('height', '30');
  svg.setAttribute('class', `floater f-${kind}`);
  const use = document.createElementNS(svgNS, 'use');
  use.setAttribute('href', `#r-${kind}`);
  svg.append(use);
  svg.style.setProperty('--dx', `${Math.round(Math.random() * 70 - 45)}px`);
  svg.style.setProperty('--rot', `${Math.round(Math.random() * 40 - 20)}deg`);
  svg.style.animationDelay = `${delay}ms`;
  el.floaters.append(svg);
  setTimeout(() => svg.remove(), 2600 + delay);
}

el.reactions.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-kind]');
  if (!b || room.banned) return;
  if (client.react(roomId, b.dataset.kind)) floatReaction(b.dataset.kind);
  b.classList.remove('pop');
  void b.offsetWidth;
  b.classList.add('pop');
});

// The room's counts since the previous `reactions` message: they float
// up (a few per kind, whatever the count) and add to the totals shown.
function onReactions({ counts }) {
  for (const [kind, n] of Object.entries(counts)) {
    if (!(kind in demo.reactionTotals) || !(n > 0)) continue;
    demo.reactionTotals[kind] += n;
    const b = el.reactions.querySelector(`[data-testid="reaction-count-${kind}"]`);
    b.dataset.total = String(demo.reactionTotals[kind]);
    b.textContent = compactCount(demo.reactionTotals[kind]);
    const shown = Math.min(n, 5);
    for (let i = 0; i < shown; i++) floatReaction(kind, i * 90);
  }
}

// ---- auction ----
//
// The card follows room.auction (the client merges the `auction` events
// and the `bid` messages with the highest v). The countdown runs on the
// server's clock (serverNow), so an anti-sniping extension shows as the
// clock jumping back up. A bid has one request id per attempt, kept when
// the answer was lost, like a purchase.

let bidAttempt = null; // {id, auction, amount, max} not yet answered
const myLead = new Map(); // auction id -> {handle, leadAt}: who we are in it, learned from a leading reply
let shownAuction = { id: null, endsAt: 0, endedAt: 0, extendedAt: 0 };
const EXTENDED_SHOWN_MS = 4000; // how long the "+Ns" badge stays after an extension

function auctionMoney(a, minor) {
  const p = room.products.get(a.product);
  return formatMoney(minor, p ? p.currency : 'USD');
}

function learnHandle(a) {
  const m = myLead.get(a.id);
  if (m && !m.handle && m.leadAt !== null && a.current === m.leadAt && a.leader) m.handle = a.leader.id;
  return m;
}

function auctionStatus(a) {
  const m = learnHandle(a);
  if (!m) return '';
  if (a.state === 'ended') {
    const w = a.result && a.result.outcome === 'sold' ? a.result.winner : null;
    if (!m.handle) return '';
    return w && w.id === m.handle ? 'won' : 'lost';
  }
  if (m.handle) return a.leader && a.leader.id === m.handle ? 'leading' : 'outbid';
  if (m.outbid) return 'outbid';
  return m.leadAt !== null && a.current === m.leadAt ? 'leading' : '';
}

function renderAuction() {
  const a = room.auction;
  const now = client.serverNow();
  if (!a) {
    el.auction.hidden = true;
    el.auction.dataset.state = 'none';
    return;
  }
  if (a.id !== shownAuction.id) shownAuction = { id: a.id, endsAt: a.ends_at, endedAt: 0, extendedAt: 0 };
  if (a.state === 'live' && a.ends_at > shownAuction.endsAt) {
    // Anti-sniping: a late bid moved the end.
    const secs = Math.round((a.ends_at - shownAuction.endsAt) / 1000);
    demo.auctionExtensions++;
    el.auctionExtended.textContent = secs > 0 ? `+${secs}s` : 'extended';
    shownAuction.extendedAt = performance.now();
    el.auctionExtended.classList.remove('flash');
    void el.auctionExtended.offsetWidth;
    el.auctionExtended.classList.add('flash');
    el.auction.dataset.extended = String(demo.auctionExtensions);
  }
  shownAuction.endsAt = Math.max(shownAuction.endsAt, a.ends_at);
  el.auctionExtended.hidden = a.state !== 'live' || !shownAuction.extendedAt || performance.now() - shownAuction.extendedAt > EXTENDED_SHOWN_MS;
  if (a.state === 'ended') {
    if (!shownAuction.endedAt) shownAuction.endedAt = performance.now();
    if (performance.now() - shownAuction.endedAt > 10000) {
      el.auction.hidden = true;
      el.auction.dataset.state = 'none';
      return;
    }
  }
  el.auction.hidden = false;
  el.auction.dataset.state = a.state;
  el.auction.dataset.auctionId = a.id;
  const p = room.products.get(a.product);
  if (p && el.auctionImg.getAttribute('src') !== p.image) el.auctionImg.src = p.image || 'img/favicon.svg';
  el.auctionName.textContent = p ? p.name : a.product;
  const hasBid = a.current !== null && a.current !== undefined;
  el.auctionCurrent.dataset.amount = hasBid ? String(a.current) : '';

  const target = a.state === 'scheduled' ? a.starts_at : a.ends_at;
  const ms = Math.max(0, target - now);
  el.auctionCountdown.dataset.ms = String(Math.round(ms));
  el.auctionCountdown.dataset.endsAt = String(a.ends_at);
  el.auction.classList.toggle('urgent', a.state === 'live' && ms < 10000);

  const status = auctionStatus(a);
  demo.auctionStatus = status;
  el.auctionStatus.dataset.status = status;
  el.auction.dataset.status = status;

  if (a.state === 'ended') {
    const r = a.result || { outcome: 'unsold' };
    el.auctionTitle.textContent = 'Auction ended';
    el.auctionCountdown.textContent = 'Ended';
    if (r.outcome === 'sold') {
      el.auctionLabel.textContent = 'Sold for';
      el.auctionCurrent.textContent = auctionMoney(a, r.amount);
      el.auctionMeta.textContent = `to ${r.winner ? r.winner.name : 'the top bidder'} · ${a.bids} bids`;
    } else {
      el.auctionLabel.textContent = 'Not sold';
      el.auctionCurrent.textContent = hasBid ? auctionMoney(a, a.current) : '';
      el.auctionMeta.textContent = a.bids ? 'the reserve was not met' : 'no bids';
    }
    el.auctionStatus.textContent = status === 'won' ? 'You won! Your order is placed.' : status === 'lost' ? 'Outbid at the end.' : '';
    el.auctionStatus.className = `auction-status ${status}`;
    el.bidButton.disabled = true;
    el.auctionMax.disabled = true;
    el.bidLabel.textContent = 'Bidding closed';
    return;
  }

  el.auctionTitle.textContent = a.state === 'scheduled' ? 'Auction soon' : a.sudden_death ? 'Live auction · sudden death' : 'Live auction';
  el.auctionCountdown.textContent = a.state === 'scheduled' ? `starts in ${formatCountdown(ms)}` : ms > 0 ? formatCountdown(ms) : 'Closing…';
  el.auctionLabel.textContent = hasBid ? 'Current bid' : 'Starting bid';
  el.auctionCurrent.textContent = auctionMoney(a, hasBid ? a.current : a.start_price);
  const meta = [];
  if (a.leader) meta.push(`${a.leader.name} leads`);
  meta.push(`${a.bids} ${a.bids === 1 ? 'bid' : 'bids'}`);
  if (!a.reserve_met) meta.push('reserve not met');
  el.auctionMeta.textContent = meta.join(' · ');

  const o = demo.lastBid;
  let text = status === 'leading' ? "You're leading" : status === 'outbid' ? 'Outbid: bid again' : '';
  if (o && !o.ok && o.auction === a.id && !demo.bidPending) text = bidErrorText(o, a) || text;
  el.auctionStatus.textContent = text;
  el.auctionStatus.className = `auction-status ${status}`;

  const next = client.nextBid(roomId);
  const live = a.state === 'live' && ms > 0 && !room.banned;
  el.bidButton.disabled = !live || demo.bidPending || client.state !== 'live';
  el.bidButton.classList.toggle('busy', demo.bidPending);
  el.auctionMax.disabled = !live;
  el.bidButton.dataset.amount = next === null ? '' : String(next);
  const label = demo.bidPending ? 'Bidding…' : a.state === 'scheduled' ? 'Starts soon' : next === null ? 'Bid' : `Bid ${auctionMoney(a, next)}`;
  if (el.bidLabel.textContent !== label) el.bidLabel.textContent = label;
}

function bidErrorText(o, a) {
  switch (o.code) {
    case 'bid_too_low':
      return o.minBid ? `Someone bid first: the next bid is ${auctionMoney(a, o.minBid)}` : 'Someone bid first: bid again';
    case 'auction_not_live':
      return 'Too late: the auction is not live.';
    case 'banned':
      return 'You were removed from this room.';
    case 'forbidden':
      return 'You cannot bid in this auction.';
    case 'invalid_max':
      return o.message;
    case 'timeout':
    case 'disconnected':
      return 'No answer yet: tap again to retry the same bid.';
    default:
      return o.message || o.code;
  }
}

el.auctionForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const a = room.auction;
  const amount = client.nextBid(roomId);
  if (!a || a.state !== 'live' || amount === null || demo.bidPending) return;
  const p = room.products.get(a.product);
  let max;
  const raw = el.auctionMax.value.trim();
  if (raw) {
    max = Math.round(Number(raw) * 10 ** currencyDigits(p ? p.currency : 'USD'));
    if (!Number.isFinite(max) || max < amount) {
      demo.lastBid = { ok: false, auction: a.id, code: 'invalid_max', message: `Your max must be at least ${auctionMoney(a, amount)}.` };
      renderAuction();
      return;
    }
  }
  // The same attempt (no answer yet) keeps its id: the server answers a
  // repeated id with the first answer.
  if (!bidAttempt || bidAttempt.auction !== a.id || bidAttempt.amount !== amount || bidAttempt.max !== max) {
    bidAttempt = { id: randomId(), auction: a.id, amount, max };
  }
  const { id } = bidAttempt;
  demo.bidPending = true;
  renderAuction();
  client
    .bid({ room: roomId, auction: a.id, amount, max, id })
    .then((reply) => {
      bidAttempt = null;
      demo.lastBid = { ok: true, id, auction: a.id, amount: reply.amount, leading: reply.leading, current: reply.current };
      const m = myLead.get(a.id) || { handle: null, leadAt: null };
      m.leadAt = reply.leading ? reply.current : null;
      m.outbid = !reply.leading;
      myLead.set(a.id, m);
      if (max) el.auctionMax.value = '';
    })
    .catch((err) => {
      if (err.code !== 'timeout' && err.code !== 'disconnected') bidAttempt = null;
      demo.lastBid = { ok: false, id, auction: a.id, code: err.code, message: err.message, minBid: err.minBid };
    })
    .finally(() => {
      demo.bidPending = false;
      renderAll();
    });
});

// ---- wiring ----

function renderAll() {
  syncDemo();
  renderHeader();
  renderPinned();
  renderStock();
  renderSale();
  renderBuy();
  renderChat();
  renderAuction();
}

client.on('state', (d) => {
  syncDemo();
  renderConn(d);
  renderChat(); // a new connection forgets the sampling notice until told again
});
client.on('change', renderAll);
client.on('purchase', addTicker);
client.on('reactions', onReactions);
client.on('clock', () => {
  demo.clockOffset = client.clockOffset;
  const off = client.clockOffset;
  el.clock.textContent = off === null ? '' : `clock ${off >= 0 ? '+' : ''}${Math.round(off)} ms${client.rtt !== null ? ` · rtt ${Math.round(client.rtt)} ms` : ''}`;
});

// Countdowns and the reconnect timer tick on their own.
setInterval(() => {
  renderSale();
  renderBuy();
  renderChatError();
  renderAuction();
  if (client.state === 'reconnecting') renderConn();
}, 200);

renderAll();
renderConn();
client.connect();
