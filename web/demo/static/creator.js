// creator.js: the creator console. Room from ?room= (default "demo").
import { LiveClient, currencyDigits, devTokenProvider, formatMoney, isRoomId } from './liveclient.js';
import { connLabel, demoRoomState, formatCountdown, saleProgress } from './common.js';

const params = new URLSearchParams(location.search);
const roomId = isRoomId(params.get('room')) ? params.get('room') : 'demo';

const client = new LiveClient({ token: devTokenProvider({ role: 'creator', rooms: [roomId] }) });
const room = client.join(roomId);

const $ = (id) => document.getElementById(id);
const el = {
  title: $('room-title'),
  roomId: $('room-id'),
  seq: $('seq-info'),
  viewers: $('viewer-count'),
  viewerNumber: $('viewer-number'),
  conn: $('conn-state'),
  connText: $('conn-text'),
  viewerLink: $('viewer-link'),
  catalog: $('catalog'),
  catalogCount: $('catalog-count'),
  unpin: $('unpin-button'),
  chip: $('sale-chip'),
  saleEmpty: $('sale-empty'),
  saleBox: $('sale-box'),
  saleImg: $('sale-img'),
  saleName: $('sale-name'),
  saleTerms: $('sale-terms'),
  saleWhen: $('sale-when'),
  countdown: $('creator-countdown'),
  soldFill: $('sold-fill'),
  sold: $('sale-sold'),
  quantity: $('sale-quantity'),
  saleStock: $('sale-stock'),
  stop: $('sale-stop'),
  form: $('sale-form'),
  fProduct: $('sale-product'),
  fCurrency: $('sale-currency'),
  fPrice: $('sale-price'),
  fQuantity: $('sale-quantity-input'),
  fLimit: $('sale-limit'),
  fDuration: $('sale-duration'),
  fDelay: $('sale-delay'),
  submit: $('sale-submit'),
  outcome: $('action-outcome'),
  log: $('log'),
  ordersBody: $('orders-body'),
  ordersCount: $('orders-count'),
  ordersStatus: $('orders-status'),
  ordersEmpty: $('orders-empty'),
};

el.roomId.textContent = roomId;
el.viewerLink.href = `./?room=${encodeURIComponent(roomId)}`;

const demo = {
  room: roomId,
  ...demoRoomState(client, room),
  orders: [], // from GET /api/rooms/{room}/orders, oldest first
  lastOutcome: null, // {action, ok, code, message, reply}
  actions: [],
  client,
};
window.liveDemo = demo;

const stockOf = (id) => room.stock.get(id)?.remaining;
const maxSeen = new Map();

function syncDemo() {
  Object.assign(demo, demoRoomState(client, room));
}

// ---- actions and their outcomes ----

async function act(action, button, run) {
  if (button) {
    button.disabled = true;
    button.classList.add('busy');
  }
  let outcome;
  try {
    const reply = await run();
    outcome = { action, ok: true, reply };
  } catch (err) {
    outcome = { action, ok: false, code: err.code, message: err.message };
  } finally {
    if (button) button.classList.remove('busy');
  }
  demo.lastOutcome = outcome;
  demo.actions.push(outcome);
  logOutcome(outcome);
  renderAll();
  return outcome;
}

function logOutcome(o, { line = true } = {}) {
  const text = o.ok ? `${o.action}: done` : `${o.action}: ${o.code}`;
  if (line) {
    el.outcome.textContent = o.ok ? `✓ ${o.action}` : `✗ ${o.action}: ${o.message || o.code}`;
    el.outcome.className = `outcome-line ${o.ok ? 'ok' : 'err'}`;
    el.outcome.dataset.ok = String(o.ok);
    el.outcome.dataset.action = o.action;
    el.outcome.dataset.code = o.ok ? '' : o.code;
  }
  const li = document.createElement('li');
  li.className = o.ok ? 'ok' : 'err';
  const t = document.createElement('time');
  t.textContent = new Date().toLocaleTimeString([], { hour12: false });
  const res = document.createElement('span');
  res.className = 'res';
  res.textContent = text;
  const detail = document.createElement('span');
  detail.className = 'detail';
  detail.textContent = o.ok ? describeReply(o.reply) : o.message || '';
  li.append(t, res, detail);
  el.log.prepend(li);
  $('log-empty').hidden = true;
  while (el.log.children.length > 30) el.log.lastElementChild.remove();
}

function describeReply(reply) {
  if (!reply) return '';
  if (reply.sale && typeof reply.sale === 'object') {
    const s = reply.sale;
    const p = room.products.get(s.product);
    const money = formatMoney(s.price, p ? p.currency : 'USD');
    const at = new Date(s.state === 'scheduled' ? s.starts_at : s.ends_at).toLocaleTimeString([], { hour12: false });
    return `sale ${String(s.id).slice(0, 8)} · ${s.state} · ${s.quantity} × ${money} · ${s.state === 'scheduled' ? 'starts' : 'ends'} ${at}`;
  }
  if (reply.auction && typeof reply.auction === 'object') {
    const a = reply.auction;
    const p = room.products.get(a.product);
    const money = formatMoney(a.start_price, p ? p.currency : 'USD');
    return `auction ${String(a.id).slice(0, 8)} · ${a.state} · from ${money}${a.result ? ` · ${a.result.outcome}` : ''}`;
  }
  if (Array.isArray(reply)) return reply.length ? reply.join(', ') : 'empty';
  if (typeof reply.until === 'number') return `until ${new Date(reply.until - (client.clockOffset || 0)).toLocaleTimeString([], { hour12: false })}`;
  if (reply.chat && typeof reply.chat === 'object') {
    const c = reply.chat;
    return `chat ${c.enabled ? 'open' : 'closed'} · slow mode ${c.slow_mode_ms ? `${c.slow_mode_ms / 1000}s` : 'off'} · ${c.announcement ? `“${c.announcement}”` : 'no announcement'}`;
  }
  const rest = Object.entries(reply).filter(([k]) => !['type', 'id', 'ok', 'ts'].includes(k));
  if (!rest.length) return 'ok';
  return rest.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
}

// ---- header ----

function renderHeader() {
  el.title.textContent = room.error ? `Room “${roomId}”: ${room.error.code}` : room.title || 'Connecting…';
  document.title = `${room.title || roomId} · Creator console`;
  el.seq.textContent = room.seq === null ? 'no state yet' : `event seq ${room.seq}`;
  el.viewerNumber.textContent = String(room.viewers);
  el.viewers.dataset.count = String(room.viewers);
}

function renderConn() {
  const { text, kind } = connLabel(client);
  el.conn.dataset.state = client.state;
  el.conn.dataset.kind = kind;
  el.connText.textContent = text;
}

// ---- catalog ----

const cards = new Map(); // product id -> {root, ...parts}

function productCard(p) {
  const root = document.createElement('div');
  root.className = 'product';
  root.dataset.testid = `product-${p.id}`;
  root.dataset.productId = p.id;
  const img = document.createElement('img');
  img.alt = '';
  img.width = 64;
  img.height = 64;
  const info = document.createElement('div');
  info.className = 'p-info';
  const name = document.createElement('div');
  name.className = 'p-name';
  const meta = document.createElement('div');
  meta.className = 'p-meta';
  const priceRow = document.createElement('div');
  priceRow.className = 'p-price-row';
  const price = document.createElement('span');
  price.className = 'p-price';
  const was = document.createElement('s');
  was.className = 'was';
  priceRow.append(price, was);
  info.append(name, meta, priceRow);
  const stock = document.createElement('div');
  stock.className = 'p-stock';
  const bar = document.createElement('div');
  bar.className = 'stock-bar';
  const fill = document.createElement('span');
  bar.append(fill);
  const label = document.createElement('span');
  label.className = 'stock-label';
  label.dataset.testid = `stock-${p.id}`;
  stock.append(bar, label);
  const actions = document.createElement('div');
  actions.className = 'p-actions';
  const pin = document.createElement('button');
  pin.type = 'button';
  pin.className = 'btn';
  pin.dataset.testid = `pin-${p.id}`;
  pin.id = `pin-${p.id}`;
  pin.addEventListener('click', () => {
    const cur = room.products.get(p.id);
    act(`Pin ${cur ? cur.name : p.id}`, pin, () => client.pin(roomId, p.id));
  });
  const sale = document.createElement('button');
  sale.type = 'button';
  sale.className = 'btn';
  sale.dataset.testid = `sale-prefill-${p.id}`;
  sale.textContent = 'Flash sale…';
  sale.addEventListener('click', () => {
    el.fProduct.value = p.id;
    priceEdited = false;
    onProductChange();
    el.fPrice.focus();
    el.form.scrollIntoView({ behavior: 'smooth', block: 'center' });
  });
  actions.append(pin, sale);
  root.append(img, info, stock, actions);
  return { root, img, name, meta, price, was, stock, fill, label, pin, lastRemaining: undefined };
}

function renderCatalog() {
  const ids = [...room.products.keys()];
  for (const [id, c] of cards) {
    if (!room.products.has(id)) {
      c.root.remove();
      cards.delete(id);
    }
  }
  ids.forEach((id, i) => {
    const p = room.products.get(id);
    let c = cards.get(id);
    if (!c) {
      c = productCard(p);
      cards.set(id, c);
    }
    if (el.catalog.children[i] !== c.root) el.catalog.insertBefore(c.root, el.catalog.children[i] || null);
    if (c.img.getAttribute('src') !== p.image) c.img.src = p.image || 'img/favicon.svg';
    c.name.textContent = p.name;
    c.meta.textContent = `${p.id} · ${p.currency}`;
    const s = activeSale();
    const onSale = s && s.product === id;
    c.root.classList.toggle('on-sale', !!onSale);
    c.price.textContent = formatMoney(onSale ? s.price : p.price, p.currency);
    c.was.textContent = onSale ? formatMoney(p.price, p.currency) : '';
    c.was.hidden = !onSale;
    const remaining = stockOf(id) ?? p.remaining ?? 0;
    const max = Math.max(maxSeen.get(id) || 0, remaining, 1);
    maxSeen.set(id, max);
    c.fill.style.width = `${(remaining / max) * 100}%`;
    c.label.textContent = remaining <= 0 ? 'Sold out' : `${remaining} left`;
    c.label.dataset.remaining = String(remaining);
    c.stock.classList.toggle('low', remaining > 0 && remaining <= 5);
    c.stock.classList.toggle('out', remaining <= 0);
    if (c.lastRemaining !== undefined && c.lastRemaining !== remaining) {
      c.stock.classList.remove('bump');
      void c.stock.offsetWidth;
      c.stock.classList.add('bump');
    }
    c.lastRemaining = remaining;
    const pinned = room.pinned && room.pinned.id === id;
    c.root.classList.toggle('is-pinned', !!pinned);
    if (!c.pin.classList.contains('busy')) {
      c.pin.disabled = !!pinned || client.state !== 'live';
      c.pin.textContent = pinned ? 'Pinned ✓' : 'Pin';
      c.pin.classList.toggle('pinned', !!pinned);
    }
  });
  el.catalogCount.textContent = `${ids.length} products`;
  if (!el.unpin.classList.contains('busy')) el.unpin.disabled = !room.pinned || client.state !== 'live';
  renderProductOptions(ids);
}

el.unpin.addEventListener('click', () => act('Unpin', el.unpin, () => client.unpin(roomId)));

// ---- sale state ----

function activeSale() {
  const s = room.sale;
  return s && (s.state === 'live' || s.state === 'scheduled') ? s : null;
}

// Units sold per sale id, counted from the orders API.
const soldBySale = new Map();

function renderSale() {
  const s = room.sale;
  const active = activeSale();
  el.chip.dataset.state = s ? s.state : 'none';
  el.chip.textContent = s ? s.state : 'No sale';
  if (!el.stop.classList.contains('busy')) el.stop.disabled = !active || client.state !== 'live';
  if (!s) {
    el.saleBox.hidden = true;
    el.saleEmpty.hidden = false;
    return;
  }
  el.saleBox.hidden = false;
  el.saleEmpty.hidden = true;
  const p = room.products.get(s.product);
  const currency = p ? p.currency : 'USD';
  if (p && el.saleImg.getAttribute('src') !== p.image) el.saleImg.src = p.image;
  el.saleName.textContent = p ? p.name : s.product;
  el.saleTerms.textContent = `${formatMoney(s.price, currency)}${p ? ` (list ${formatMoney(p.price, currency)})` : ''} · max ${s.per_user_limit} per viewer`;
  const now = client.serverNow();
  if (s.state === 'scheduled') {
    el.saleWhen.textContent = 'starts in';
    el.countdown.textContent = formatCountdown(Math.max(0, s.starts_at - now));
  } else if (s.state === 'live') {
    el.saleWhen.textContent = 'ends in';
    el.countdown.textContent = formatCountdown(Math.max(0, s.ends_at - now));
  } else {
    el.saleWhen.textContent = '';
    el.countdown.textContent = 'ended';
  }
  el.countdown.dataset.ms = String(Math.max(0, Math.round((s.state === 'scheduled' ? s.starts_at : s.ends_at) - now)));
  const est = saleProgress(room, s).sold;
  const sold = Math.min(s.quantity, Math.max(est, s.sold || 0, soldBySale.get(s.id) || 0));
  el.sold.textContent = String(sold);
  el.sold.dataset.sold = String(sold);
  el.quantity.textContent = String(s.quantity);
  el.soldFill.style.width = `${s.quantity ? (sold / s.quantity) * 100 : 0}%`;
  el.saleStock.textContent = String(stockOf(s.product) ?? '?');
}

el.stop.addEventListener('click', () => act('Stop sale', el.stop, () => client.saleStop(roomId)));

// ---- sale form ----

let priceEdited = false;

function renderProductOptions(ids) {
  const have = [...el.fProduct.options].map((o) => o.value).join(',');
  if (have === ids.join(',')) {
    for (const o of el.fProduct.options) o.textContent = optionText(room.products.get(o.value));
    return;
  }
  const keep = el.fProduct.value;
  el.fProduct.replaceChildren(
    ...ids.map((id) => {
      const o = document.createElement('option');
      o.value = id;
      o.textContent = optionText(room.products.get(id));
      return o;
    }),
  );
  if (ids.includes(keep)) el.fProduct.value = keep;
  onProductChange();
}

function optionText(p) {
  return `${p.name} (${formatMoney(p.price, p.currency)}, ${stockOf(p.id) ?? p.remaining} in stock)`;
}

function onProductChange() {
  const p = room.products.get(el.fProduct.value);
  if (!p) return;
  const digits = currencyDigits(p.currency);
  el.fCurrency.textContent = p.currency;
  el.fPrice.step = digits ? String(10 ** -digits) : '1';
  if (!priceEdited) {
    // Suggest 30% off, ending in .99 (or .00 for currencies without minor units).
    const unit = 10 ** digits;
    let minor = Math.round(p.price * 0.7);
    if (digits) minor = Math.floor(minor / unit) * unit + (unit - 1);
    if (minor >= p.price) minor = Math.max(1, p.price - 1);
    el.fPrice.value = (minor / unit).toFixed(digits);
  }
}

el.fProduct.addEventListener('change', () => {
  priceEdited = false;
  onProductChange();
});
el.fPrice.addEventListener('input', () => {
  priceEdited = true;
});

function readSaleForm() {
  const product = el.fProduct.value;
  const p = room.products.get(product);
  if (!p) throw new Error('choose a product');
  const digits = currencyDigits(p.currency);
  const price = Math.round(Number(el.fPrice.value) * 10 ** digits);
  const quantity = Number(el.fQuantity.value);
  const limit = Number(el.fLimit.value);
  const duration = Number(el.fDuration.value);
  const delay = Number(el.fDelay.value || 0);
  if (!Number.isFinite(price) || price < 1) throw new Error('the sale price must be positive');
  if (!Number.isInteger(quantity) || quantity < 1) throw new Error('the quantity must be a whole number of at least 1');
  if (!Number.isInteger(limit) || limit < 1) throw new Error('the per-user limit must be a whole number of at least 1');
  if (!Number.isFinite(duration) || duration <= 0) throw new Error('the duration must be positive');
  if (!Number.isFinite(delay) || delay < 0) throw new Error('the start delay cannot be negative');
  const sale = {
    product,
    price,
    quantity,
    per_user_limit: limit,
    duration_ms: Math.round(duration * 1000),
  };
  if (delay > 0) sale.starts_in_ms = Math.round(delay * 1000);
  return sale;
}

el.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  let sale;
  try {
    sale = readSaleForm();
  } catch (err) {
    const o = { action: 'Start flash sale', ok: false, code: 'invalid_form', message: err.message };
    demo.lastOutcome = o;
    demo.actions.push(o);
    logOutcome(o);
    return;
  }
  const p = room.products.get(sale.product);
  act(`Start flash sale on ${p.name}`, el.submit, () => client.saleStart(roomId, sale)).then(() => {
    el.submit.disabled = false;
  });
});

// ---- orders (HTTP API) ----

let lastOrder = null;
let polling = false;
let pollAgain = false;

async function pollOrders() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  try {
    const token = await client.getToken();
    const fresh = [];
    for (let page = 0; page < 20; page++) {
      const q = new URLSearchParams({ limit: '1000' });
      if (lastOrder) q.set('after', lastOrder);
      const res = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/orders?${q}`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        cache: 'no-store',
      });
      if (!res.ok) {
        let msg = `HTTP ${res.status}`;
        try {
          const body = await res.json();
          if (body.error) msg = `${body.error.code}: ${body.error.message}`;
        } catch {
          /* not JSON */
        }
        el.ordersStatus.textContent = msg;
        break;
      }
      const body = await res.json();
      const orders = body.orders || [];
      for (const o of orders) {
        demo.orders.push(o);
        fresh.push(o);
        if (o.sale) soldBySale.set(o.sale, (soldBySale.get(o.sale) || 0) + o.qty);
      }
      if (orders.length) lastOrder = orders[orders.length - 1].order;
      el.ordersStatus.textContent = '';
      if (!body.next) break;
      lastOrder = body.next;
    }
    if (fresh.length) renderOrders(fresh);
  } catch (err) {
    el.ordersStatus.textContent = `orders: ${err.message}`;
  } finally {
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      setTimeout(pollOrders, 100);
    }
  }
}

function renderOrders(fresh) {
  for (const o of fresh) {
    const p = room.products.get(o.product);
    const tr = document.createElement('tr');
    tr.className = 'fresh';
    tr.dataset.order = o.order;
    const cells = [
      new Date(o.at).toLocaleTimeString([], { hour12: false }),
      p ? p.name : o.product,
      String(o.qty),
      `${formatMoney(o.price, p ? p.currency : 'USD')}${o.sale ? ' ⚡' : ''}`,
      o.user,
      o.order.slice(0, 8),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 4) td.className = 'mono';
      if (i === 5) td.title = o.order;
      tr.append(td);
    });
    el.ordersBody.prepend(tr);
  }
  while (el.ordersBody.children.length > 100) el.ordersBody.lastElementChild.remove();
  const units = demo.orders.reduce((n, o) => n + o.qty, 0);
  el.ordersCount.textContent = `${demo.orders.length} orders · ${units} units`;
  el.ordersCount.dataset.count = String(demo.orders.length);
  el.ordersEmpty.hidden = demo.orders.length > 0;
  renderSale();
}

let stockPoll = null;
client.on('stock', () => {
  clearTimeout(stockPoll);
  stockPoll = setTimeout(pollOrders, 250);
});
setInterval(pollOrders, 3000);

// ---- chat moderation ----
//
// The console sees every comment (the creator is exempt from sampling).
// Moderation names users by their author handle, the id the comments
// carry; the console remembers whom it muted or banned in this tab, so it
// can lift it again (the server keeps no list to read).

const chatEl = {
  count: $('chat-count'),
  chip: $('chat-chip'),
  toggle: $('chat-toggle'),
  slow: $('slow-mode'),
  muteFor: $('mute-duration'),
  purge: $('mute-purge'),
  announceForm: $('announce-form'),
  announceInput: $('announce-input'),
  announceClear: $('announce-clear'),
  announceNow: $('announce-now'),
  list: $('mod-comments'),
  empty: $('mod-empty'),
  moderated: $('moderated'),
  moderatedList: $('moderated-list'),
  blocklist: $('blocklist'),
  blocklistSave: $('blocklist-save'),
};
const moderated = new Map(); // handle -> {name, until (server ms) or 0, banned}
demo.moderated = moderated;
demo.comments = [];
const modNodes = new Map(); // comment id -> <li>

const privileged = (a) => a && (a.role === 'creator' || a.role === 'moderator' || a.role === 'admin');
const authorName = (a) => (a && a.name) || 'someone';

function modButton(label, testid, cls, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `btn ${cls || ''}`;
  b.textContent = label;
  b.dataset.testid = testid;
  // act() disables the button while the request runs; it is usable again after.
  b.addEventListener('click', () => Promise.resolve(onClick(b)).finally(() => (b.disabled = false)));
  return b;
}

function modNode(c) {
  const li = document.createElement('li');
  li.dataset.commentId = c.id;
  li.dataset.author = c.author ? c.author.id : '';
  const text = document.createElement('span');
  text.className = 'm-text';
  const name = document.createElement('span');
  name.className = 'm-name';
  name.textContent = authorName(c.author);
  const role = document.createElement('span');
  role.className = 'm-role';
  role.textContent = c.author && c.author.role !== 'viewer' ? c.author.role : '';
  const body = document.createElement('span');
  body.textContent = c.text;
  text.append(name, role, body);
  const actions = document.createElement('span');
  actions.className = 'm-actions';
  actions.append(modButton('Delete', `delete-${c.id}`, 'danger', (b) => act(`Delete comment ${c.id}`, b, () => client.deleteComment(roomId, c.id))));
  if (!privileged(c.author)) {
    const a = c.author;
    actions.append(
      modButton('Mute', `mute-${c.id}`, '', (b) => muteAuthor(a, b)),
      modButton('Ban', `ban-${c.id}`, 'danger', (b) => banAuthor(a, b)),
    );
  }
  li.append(text, actions);
  return li;
}

async function muteAuthor(a, button) {
  const ms = Number(chatEl.muteFor.value);
  const purge = chatEl.purge.checked;
  const o = await act(`Mute ${authorName(a)} for ${formatCountdown(ms)}${purge ? ' and purge' : ''}`, button, () => client.mute(roomId, a.id, ms, { purge }));
  if (o.ok) {
    const m = moderated.get(a.id) || { name: authorName(a), until: 0, banned: false };
    m.until = o.reply.until || client.serverNow() + ms;
    moderated.set(a.id, m);
    renderModerated();
  }
}

async function banAuthor(a, button) {
  const o = await act(`Ban ${authorName(a)}`, button, () => client.ban(roomId, a.id));
  if (o.ok) {
    const m = moderated.get(a.id) || { name: authorName(a), until: 0, banned: false };
    m.banned = true;
    moderated.set(a.id, m);
    renderModerated();
  }
}

function renderModerated() {
  const now = client.serverNow();
  const rows = [];
  for (const [handle, m] of moderated) {
    const muted = m.until > now;
    if (!muted && !m.banned) continue;
    const li = document.createElement('li');
    li.dataset.handle = handle;
    const who = document.createElement('span');
    who.className = 'grow';
    who.textContent = `${m.name} · ${m.banned ? 'banned' : `muted for ${formatCountdown(m.until - now)}`}`;
    li.append(who);
    if (muted) {
      li.append(
        modButton('Unmute', `unmute-${handle}`, '', async (b) => {
          const o = await act(`Unmute ${m.name}`, b, () => client.unmute(roomId, handle));
          if (o.ok) m.until = 0;
          renderModerated();
        }),
      );
    }
    if (m.banned) {
      li.append(
        modButton('Unban', `unban-${handle}`, '', async (b) => {
          const o = await act(`Unban ${m.name}`, b, () => client.unban(roomId, handle));
          if (o.ok) m.banned = false;
          renderModerated();
        }),
      );
    }
    rows.push(li);
  }
  chatEl.moderatedList.replaceChildren(...rows);
  chatEl.moderated.hidden = rows.length === 0;
}

function renderChatPanel() {
  const shown = room.comments.slice(-100);
  demo.comments = shown.map((c) => ({ id: c.id, author: c.author, text: c.text }));
  const keep = new Set(shown.map((c) => c.id));
  for (const [id, li] of modNodes) {
    if (!keep.has(id)) {
      li.remove();
      modNodes.delete(id);
    }
  }
  const atBottom = chatEl.list.scrollHeight - chatEl.list.scrollTop - chatEl.list.clientHeight < 40;
  shown.forEach((c, i) => {
    let li = modNodes.get(c.id);
    if (!li) {
      li = modNode(c);
      modNodes.set(c.id, li);
    }
    if (chatEl.list.children[i] !== li) chatEl.list.insertBefore(li, chatEl.list.children[i] || null);
  });
  if (atBottom) chatEl.list.scrollTop = chatEl.list.scrollHeight;
  chatEl.empty.hidden = shown.length > 0;
  chatEl.count.textContent = shown.length ? `${shown.length} recent` : '';
  const chat = room.chat || {};
  const open = chat.enabled !== false;
  chatEl.chip.dataset.state = open ? 'live' : 'none';
  chatEl.chip.textContent = open ? (chat.slow_mode_ms ? `open · slow ${chat.slow_mode_ms / 1000}s` : 'open') : 'closed';
  demo.chat = { ...chat };
  if (!chatEl.toggle.classList.contains('busy')) {
    chatEl.toggle.textContent = open ? 'Close chat' : 'Open chat';
    chatEl.toggle.disabled = client.state !== 'live';
  }
  const slow = String(chat.slow_mode_ms || 0);
  if (document.activeElement !== chatEl.slow) {
    if (![...chatEl.slow.options].some((o) => o.value === slow)) {
      const o = document.createElement('option');
      o.value = slow;
      o.textContent = `${Number(slow) / 1000} s`;
      chatEl.slow.append(o);
    }
    chatEl.slow.value = slow;
  }
  chatEl.announceNow.textContent = chat.announcement ? `Showing now: “${chat.announcement}”` : 'No announcement.';
  chatEl.announceNow.dataset.text = chat.announcement || '';
  chatEl.announceClear.disabled = !chat.announcement;
}

chatEl.toggle.addEventListener('click', () => {
  const open = room.chat.enabled !== false;
  act(open ? 'Close chat' : 'Open chat', chatEl.toggle, () => client.chatSettings(roomId, { enabled: !open }));
});
chatEl.slow.addEventListener('change', () => {
  const ms = Number(chatEl.slow.value);
  act(ms ? `Slow mode ${formatCountdown(ms)}` : 'Slow mode off', null, () => client.chatSettings(roomId, { slow_mode_ms: ms }));
});
chatEl.announceForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = chatEl.announceInput.value.trim();
  if (!text) return;
  const o = await act('Announce', $('announce-submit'), () => client.chatSettings(roomId, { announcement: text }));
  $('announce-submit').disabled = false;
  if (o.ok) chatEl.announceInput.value = '';
});
chatEl.announceClear.addEventListener('click', () => act('Clear announcement', chatEl.announceClear, () => client.chatSettings(roomId, { announcement: null })));

let blockListLoaded = false;
async function loadBlockList() {
  try {
    const terms = await client.blockList(roomId);
    if (document.activeElement !== chatEl.blocklist) chatEl.blocklist.value = terms.join('\n');
    demo.blockList = terms;
    blockListLoaded = true;
  } catch (err) {
    logOutcome({ action: 'Load block list', ok: false, code: err.code, message: err.message }, { line: false });
  }
}
chatEl.blocklistSave.addEventListener('click', async () => {
  const terms = chatEl.blocklist.value
    .split(/[\n,]/)
    .map((t) => t.trim())
    .filter(Boolean);
  const o = await act(`Save block list (${terms.length} terms)`, chatEl.blocklistSave, () => client.setBlockList(roomId, terms));
  chatEl.blocklistSave.disabled = false;
  if (o.ok) {
    demo.blockList = o.reply;
    chatEl.blocklist.value = o.reply.join('\n');
  }
});

// ---- auction ----

const aEl = {
  chip: $('auction-chip'),
  empty: $('auction-empty'),
  box: $('auction-box'),
  img: $('c-auction-img'),
  name: $('c-auction-name'),
  terms: $('c-auction-terms'),
  when: $('c-auction-when'),
  countdown: $('c-auction-countdown'),
  current: $('c-auction-current'),
  bids: $('c-auction-bids'),
  leader: $('c-auction-leader'),
  result: $('c-auction-result'),
  form: $('auction-form'),
  product: $('auction-product'),
  currency: $('auction-currency'),
  start: $('auction-start'),
  increment: $('auction-increment'),
  duration: $('auction-duration'),
  extend: $('auction-extend'),
  reserve: $('auction-reserve'),
  delay: $('auction-delay'),
  sudden: $('auction-sudden'),
  stop: $('auction-stop'),
  submit: $('auction-submit'),
};

function auctionMoney(a, minor) {
  const p = room.products.get(a.product);
  return formatMoney(minor, p ? p.currency : 'USD');
}

function renderAuctionPanel() {
  const a = room.auction;
  demo.auction = a ? { ...a } : null;
  aEl.chip.dataset.state = a ? a.state : 'none';
  aEl.chip.textContent = a ? a.state : 'No auction';
  const active = a && (a.state === 'live' || a.state === 'scheduled');
  if (!aEl.stop.classList.contains('busy')) aEl.stop.disabled = !active || (a.bids > 0 && a.state === 'live') || client.state !== 'live';
  aEl.stop.title = active && a.bids > 0 ? 'An auction with bids cannot be cancelled' : '';
  // One auction at a time per room: the form waits for the current one to end.
  if (!aEl.submit.classList.contains('busy')) aEl.submit.disabled = !!active || client.state !== 'live';
  const ids = [...room.products.keys()];
  const have = [...aEl.product.options].map((o) => o.value).join(',');
  if (have !== ids.join(',')) {
    const keep = aEl.product.value;
    aEl.product.replaceChildren(
      ...ids.map((id) => {
        const o = document.createElement('option');
        o.value = id;
        o.textContent = room.products.get(id).name;
        return o;
      }),
    );
    if (ids.includes(keep)) aEl.product.value = keep;
  }
  const fp = room.products.get(aEl.product.value);
  if (fp) aEl.currency.textContent = fp.currency;
  if (!a) {
    aEl.box.hidden = true;
    aEl.empty.hidden = false;
    return;
  }
  aEl.box.hidden = false;
  aEl.empty.hidden = true;
  const p = room.products.get(a.product);
  if (p && aEl.img.getAttribute('src') !== p.image) aEl.img.src = p.image;
  aEl.name.textContent = p ? p.name : a.product;
  const terms = [`from ${auctionMoney(a, a.start_price)}`, `+${auctionMoney(a, a.increment)} steps`];
  terms.push(a.sudden_death ? 'sudden death' : `extends ${a.extend_ms / 1000}s`);
  if (!a.reserve_met) terms.push('reserve not met');
  aEl.terms.textContent = terms.join(' · ');
  const now = client.serverNow();
  const target = a.state === 'scheduled' ? a.starts_at : a.ends_at;
  aEl.when.textContent = a.state === 'scheduled' ? 'starts in' : a.state === 'live' ? 'ends in' : '';
  aEl.countdown.textContent = a.state === 'ended' ? 'ended' : formatCountdown(Math.max(0, target - now));
  aEl.countdown.dataset.ms = String(Math.max(0, Math.round(target - now)));
  const hasBid = a.current !== null && a.current !== undefined;
  aEl.current.textContent = hasBid ? auctionMoney(a, a.current) : '–';
  aEl.current.dataset.amount = hasBid ? String(a.current) : '';
  aEl.bids.textContent = String(a.bids || 0);
  aEl.leader.textContent = a.leader ? a.leader.name : '–';
  const r = a.result;
  aEl.result.textContent = !r ? '' : r.outcome === 'sold' ? `Sold to ${r.winner ? r.winner.name : '?'} for ${auctionMoney(a, r.amount)} · order ${String(r.order).slice(0, 8)}` : 'Ended unsold: the unit is back in stock';
  aEl.result.dataset.outcome = r ? r.outcome : '';
}

function toMinor(value, currency) {
  return Math.round(Number(value) * 10 ** currencyDigits(currency));
}

function readAuctionForm() {
  const product = aEl.product.value;
  const p = room.products.get(product);
  if (!p) throw new Error('choose a product');
  const spec = {
    product,
    start_price: toMinor(aEl.start.value, p.currency),
    increment: toMinor(aEl.increment.value, p.currency),
    duration_ms: Math.round(Number(aEl.duration.value) * 1000),
  };
  if (!(spec.start_price >= 1)) throw new Error('the start price must be positive');
  if (!(spec.increment >= 1)) throw new Error('the increment must be positive');
  if (!(spec.duration_ms >= 5000 && spec.duration_ms <= 600000)) throw new Error('the duration must be 5 to 600 seconds');
  if (aEl.extend.value !== '') {
    spec.extend_ms = Math.round(Number(aEl.extend.value) * 1000);
    if (!(spec.extend_ms >= 0 && spec.extend_ms <= 60000)) throw new Error('the extension must be 0 to 60 seconds');
  }
  if (aEl.sudden.checked) spec.sudden_death = true;
  if (aEl.reserve.value !== '') {
    spec.reserve_price = toMinor(aEl.reserve.value, p.currency);
    if (!(spec.reserve_price >= 1)) throw new Error('the reserve must be positive');
  }
  const delay = Number(aEl.delay.value || 0);
  if (!(delay >= 0)) throw new Error('the start delay cannot be negative');
  if (delay > 0) spec.starts_in_ms = Math.round(delay * 1000);
  return spec;
}

aEl.product.addEventListener('change', renderAuctionPanel);
aEl.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  let spec;
  try {
    spec = readAuctionForm();
  } catch (err) {
    const o = { action: 'Start auction', ok: false, code: 'invalid_form', message: err.message };
    demo.lastOutcome = o;
    demo.actions.push(o);
    logOutcome(o);
    return;
  }
  const p = room.products.get(spec.product);
  act(`Start auction of ${p.name}`, aEl.submit, () => client.auctionStart(roomId, spec));
});
aEl.stop.addEventListener('click', () => act('Cancel auction', aEl.stop, () => client.auctionStop(roomId)));

// ---- wiring ----

function renderAll() {
  syncDemo();
  renderHeader();
  renderCatalog();
  renderSale();
  renderChatPanel();
  renderAuctionPanel();
}

client.on('state', () => {
  syncDemo();
  renderConn();
  renderCatalog();
  renderSale();
  renderChatPanel();
  renderAuctionPanel();
  if (client.state === 'live') {
    pollOrders();
    if (!blockListLoaded) loadBlockList();
  }
});
client.on('change', renderAll);
client.on('servererror', (e) => logOutcome({ action: 'Server', ok: false, code: e.code, message: e.message }, { line: false }));

setInterval(() => {
  renderSale();
  renderAuctionPanel();
  if (moderated.size) renderModerated();
  if (client.state === 'reconnecting') renderConn();
}, 250);

renderAll();
renderConn();
client.connect();
