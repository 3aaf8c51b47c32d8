// common.js: small helpers shared by the viewer page and the creator console.

/** "1:05", "12:00", "1:02:03": whole seconds, rounded up, of ms. */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The connection indicator's text and kind (ok, wait, bad) for a LiveClient. */
export function connLabel(client) {
  switch (client.state) {
    case 'live':
      return { text: 'Connected', kind: 'ok' };
    case 'authenticating':
      return { text: 'Signing in…', kind: 'wait' };
    case 'joining':
      return { text: 'Joining…', kind: 'wait' };
    case 'reconnecting': {
      const s = client.reconnectAt ? Math.max(0, Math.ceil((client.reconnectAt - Date.now()) / 1000)) : 0;
      return { text: s > 0 ? `Reconnecting in ${s}s…` : 'Reconnecting…', kind: 'bad' };
    }
    case 'closed':
      return { text: 'Offline', kind: 'bad' };
    default:
      return { text: 'Connecting…', kind: 'wait' };
  }
}

const bases = new Map(); // sale id -> {sold, remaining}: the stock when the sale was first seen

/**
 * Units sold and left in a sale. Sale events carry `sold` only when the
 * sale changes state, so while it is live the count is estimated from the
 * product's stock: every purchase of the product during a live sale is a
 * sale purchase.
 */
export function saleProgress(room, sale) {
  const remaining = room.stock.get(sale.product)?.remaining;
  const sold0 = sale.sold || 0;
  let b = bases.get(sale.id);
  if (!b || b.sold !== sold0 || b.remaining === undefined) {
    b = { sold: sold0, remaining };
    bases.set(sale.id, b);
  }
  let sold = sold0;
  if (sale.state === 'live' && typeof remaining === 'number' && typeof b.remaining === 'number') {
    sold = b.sold + Math.max(0, b.remaining - remaining);
  }
  sold = Math.min(sold, sale.quantity);
  let left = sale.quantity - sold;
  if (typeof remaining === 'number') left = Math.min(left, remaining);
  return { sold, left: Math.max(0, left) };
}

// The room state both pages expose in window.liveDemo (the browser tests
// read it): a plain copy of what the client holds for the room.
export function demoRoomState(client, room) {
  return {
    state: client.state,
    lastSeq: room.seq,
    title: room.title,
    pinned: room.pinned ? { ...room.pinned } : null,
    sale: room.sale ? { ...room.sale } : null,
    stock: Object.fromEntries([...room.stock].map(([id, s]) => [id, s.remaining])),
    viewers: room.viewers,
  };
}
