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

// ---- wiring ----

function renderAll() {
  syncDemo();
  renderHeader();
  renderCatalog();
  renderSale();
}

client.on('state', () => {
  syncDemo();
  renderConn();
  renderCatalog();
  renderSale();
  if (client.state === 'live') pollOrders();
});
client.on('change', renderAll);
client.on('servererror', (e) => logOutcome({ action: 'Server', ok: false, code: e.code, message: e.message }, { line: false }));

setInterval(() => {
  renderSale();
  if (client.state === 'reconnecting') renderConn();
}, 250);

renderAll();
renderConn();
client.connect();
