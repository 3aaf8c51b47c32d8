// Type declarations of liveclient.js (static/liveclient.js), the JavaScript
// client of the liveserver wire protocol: every client and server message
// of docs/PROTOCOL.md, version 1 with the version 1.1 additions (chat,
// moderation, auctions, token refresh, overloaded), the error codes, and
// the client's options, room state and events.
//
// Keep them in step with the protocol: testdata/declarations.test.mjs
// checks that every export of the module (and every ErrorCode) is declared
// here, testdata/server.test.mjs that every message a real node sent in its
// tests has a declared type and exactly the declared fields, and
// `npm run typecheck` compiles example/app.ts against this file.

// ---------------------------------------------------------------- codes

/** Error codes the server sends (version 1 and 1.1). */
export type ProtocolErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'sold_out'
  | 'limit_exceeded'
  | 'sale_not_live'
  | 'rate_limited'
  | 'too_many_rooms'
  | 'unavailable'
  | 'internal'
  | 'slow_consumer'
  // version 1.1
  | 'token_expired'
  | 'overloaded'
  | 'muted'
  | 'banned'
  | 'slow_mode'
  | 'blocked'
  | 'chat_closed'
  | 'auction_not_live'
  | 'bid_too_low';

/** Failures the client itself reports: no answer in time, connection lost before the answer, client closed. */
export type ClientErrorCode = 'timeout' | 'disconnected' | 'closed';

/** The code of a LiveError. */
export type ErrorCodeValue = ProtocolErrorCode | ClientErrorCode;

/** WebSocket close codes the server uses (and 1000, 1006 seen by clients). */
export type CloseCode = 1000 | 1001 | 1006 | 1007 | 1008 | 1009 | 1013 | 4000;

/** Error codes by name, as the module exports them. */
export declare const ErrorCode: Readonly<{
  BadRequest: 'bad_request';
  Unauthorized: 'unauthorized';
  Forbidden: 'forbidden';
  NotFound: 'not_found';
  SoldOut: 'sold_out';
  LimitExceeded: 'limit_exceeded';
  SaleNotLive: 'sale_not_live';
  RateLimited: 'rate_limited';
  TooManyRooms: 'too_many_rooms';
  Unavailable: 'unavailable';
  Overloaded: 'overloaded';
  Internal: 'internal';
  TokenExpired: 'token_expired';
  Muted: 'muted';
  Banned: 'banned';
  SlowMode: 'slow_mode';
  Blocked: 'blocked';
  ChatClosed: 'chat_closed';
  AuctionNotLive: 'auction_not_live';
  BidTooLow: 'bid_too_low';
  Timeout: 'timeout';
  Disconnected: 'disconnected';
  Closed: 'closed';
}>;

/** The error object of a failed reply or HTTP answer. */
export interface ProtocolError {
  code: ProtocolErrorCode;
  message: string;
  /** Unix ms the mute ends (`muted`). */
  until?: number;
  /** Least time to wait before retrying (`rate_limited`, `slow_mode`, `overloaded`). */
  retry_after_ms?: number;
  /** The least acceptable bid (`bid_too_low`). */
  min_bid?: number;
}

// ---------------------------------------------------------------- objects

/** Room ids: 1 to 64 characters of [A-Za-z0-9_-]. */
export type RoomId = string;
/** Unix milliseconds of the server's clock. */
export type UnixMillis = number;

export interface Product {
  id: string;
  name: string;
  /** Minor units (cents). */
  price: number;
  currency: string;
  image: string;
  /** Live stock; `v` its version: keep the value with the highest v. */
  remaining: number;
  v: number;
}

export type SaleState = 'scheduled' | 'live' | 'ended';

export interface Sale {
  id: string;
  product: string;
  price: number;
  quantity: number;
  sold: number;
  per_user_limit: number;
  starts_at: UnixMillis;
  ends_at: UnixMillis;
  state: SaleState;
}

export type Role = 'viewer' | 'creator' | 'admin' | 'moderator';

/** A person in a broadcast: `id` is an opaque per-room handle, never the user id. */
export interface Author {
  id: string;
  name: string;
  role: Role;
}

export interface Comment {
  id: string;
  author: Author;
  text: string;
  at: UnixMillis;
}

export interface ChatSettings {
  enabled: boolean;
  slow_mode_ms: number;
  announcement: string | null;
}

export type ReactionKind = 'heart' | 'fire' | 'clap' | 'laugh' | 'wow';

export type AuctionState = 'scheduled' | 'live' | 'ended';

export type AuctionResult =
  | { outcome: 'sold'; amount: number; winner: Author; order: string }
  | { outcome: 'unsold' };

export interface Auction {
  id: string;
  product: string;
  state: AuctionState;
  start_price: number;
  increment: number;
  reserve_met: boolean;
  current: number | null;
  leader: Author | null;
  bids: number;
  starts_at: UnixMillis;
  ends_at: UnixMillis;
  extend_ms: number;
  sudden_death: boolean;
  result: AuctionResult | null;
}

// ---------------------------------------------------------------- client -> server

export interface ClientAuth {
  type: 'auth';
  token: string;
  /** With an id on an open connection: a token refresh, answered by a reply. */
  id?: string;
}
export interface ClientJoin {
  type: 'join';
  room: RoomId;
  /** The last seq applied: the server replays what follows, or sends a snapshot. */
  since?: number;
  id?: string;
}
export interface ClientLeave {
  type: 'leave';
  room: RoomId;
  id?: string;
}
export interface ClientBuy {
  type: 'buy';
  /** The idempotency key: the same user and id get the first answer. */
  id: string;
  room: RoomId;
  product: string;
  /** 1 to 1000; default 1. */
  qty?: number;
}
export interface ClientPin {
  type: 'pin';
  id: string;
  room: RoomId;
  product: string;
}
export interface ClientUnpin {
  type: 'unpin';
  id: string;
  room: RoomId;
}
/** The fields of a flash sale to start (sale_start, POST /api/rooms/{room}/sales). */
export interface SaleSpec {
  product: string;
  price: number;
  quantity: number;
  per_user_limit: number;
  duration_ms: number;
  /** Delay before the sale goes live; absent: live at once. */
  starts_in_ms?: number;
}
export interface ClientSaleStart extends SaleSpec {
  type: 'sale_start';
  id: string;
  room: RoomId;
}
export interface ClientSaleStop {
  type: 'sale_stop';
  id: string;
  room: RoomId;
}
export interface ClientPing {
  type: 'ping';
  id?: string;
}
// version 1.1: chat, reactions, moderation
export interface ClientComment {
  type: 'comment';
  id: string;
  room: RoomId;
  /** 1 to 300 characters after trimming. */
  text: string;
}
export interface ClientReact {
  type: 'react';
  room: RoomId;
  kind: ReactionKind;
  id?: string;
}
export interface ClientDeleteComment {
  type: 'delete_comment';
  id: string;
  room: RoomId;
  comment: string;
}
export interface ClientMute {
  type: 'mute';
  id: string;
  room: RoomId;
  /** The author handle. */
  user: string;
  /** 1 s to 24 h. */
  duration_ms: number;
  purge?: boolean;
}
export interface ClientUnmute {
  type: 'unmute';
  id: string;
  room: RoomId;
  user: string;
}
export interface ClientBan {
  type: 'ban';
  id: string;
  room: RoomId;
  user: string;
}
export interface ClientUnban {
  type: 'unban';
  id: string;
  room: RoomId;
  user: string;
}
export interface ClientChatSettings {
  type: 'chat_settings';
  id: string;
  room: RoomId;
  enabled?: boolean;
  /** 0 (off) to 600000. */
  slow_mode_ms?: number;
  /** Up to 200 characters; null clears it. */
  announcement?: string | null;
}
// version 1.1: auctions
/** The fields of an auction to start (auction_start, POST /api/rooms/{room}/auctions). */
export interface AuctionSpec {
  product: string;
  start_price: number;
  increment: number;
  /** 5 s to 10 min. */
  duration_ms: number;
  /** 0 to 60 s; default 10 s. */
  extend_ms?: number;
  sudden_death?: boolean;
  reserve_price?: number;
  starts_in_ms?: number;
}
export interface ClientAuctionStart extends AuctionSpec {
  type: 'auction_start';
  id: string;
  room: RoomId;
}
export interface ClientAuctionStop {
  type: 'auction_stop';
  id: string;
  room: RoomId;
}
export interface ClientBid {
  type: 'bid';
  /** The idempotency key, as for buy. */
  id: string;
  room: RoomId;
  auction: string;
  amount: number;
  /** A proxy bid up to max (>= amount). */
  max?: number;
}

export type ClientMessage =
  | ClientAuth
  | ClientJoin
  | ClientLeave
  | ClientBuy
  | ClientPin
  | ClientUnpin
  | ClientSaleStart
  | ClientSaleStop
  | ClientPing
  | ClientComment
  | ClientReact
  | ClientDeleteComment
  | ClientMute
  | ClientUnmute
  | ClientBan
  | ClientUnban
  | ClientChatSettings
  | ClientAuctionStart
  | ClientAuctionStop
  | ClientBid;

// ---------------------------------------------------------------- server -> client

/** Every server message has `ts`, the server's clock when it was produced. */
interface Stamped {
  ts: UnixMillis;
}
/** Room events carry `seq`, growing by exactly 1 per event of the room. */
interface RoomEvent extends Stamped {
  room: RoomId;
  seq: number;
}

export interface ServerSnapshot extends RoomEvent {
  type: 'snapshot';
  title: string;
  products: Product[];
  pinned: Product | null;
  sale: Sale | null;
  viewers: number;
  /** version 1.1 */
  chat?: ChatSettings;
  /** version 1.1: the last 50 visible comments, oldest first. */
  comments?: Comment[];
  /** version 1.1: the scheduled or live auction. */
  auction?: Auction | null;
}
export interface ServerPinned extends RoomEvent {
  type: 'pinned';
  product: Product;
}
export interface ServerUnpinned extends RoomEvent {
  type: 'unpinned';
}
export interface ServerSaleEvent extends RoomEvent {
  type: 'sale';
  sale: Sale;
}
export interface ServerCatalog extends RoomEvent {
  type: 'catalog';
  products: Product[];
}
export interface ServerCommentDeleted extends RoomEvent {
  type: 'comment_deleted';
  comments: string[];
}
export interface ServerChat extends RoomEvent {
  type: 'chat';
  chat: ChatSettings;
}
export interface ServerAuctionEvent extends RoomEvent {
  type: 'auction';
  auction: Auction;
}

export interface ServerStock extends Stamped {
  type: 'stock';
  room: RoomId;
  product: string;
  remaining: number;
  v: number;
}
export interface ServerViewers extends Stamped {
  type: 'viewers';
  room: RoomId;
  count: number;
}
export interface ServerPurchase extends Stamped {
  type: 'purchase';
  room: RoomId;
  product: string;
  qty: number;
  /** A masked label such as "j***", never the user id. */
  buyer: string;
}
export interface ServerComment extends Stamped {
  type: 'comment';
  room: RoomId;
  comment: Comment;
}
export interface ServerReactions extends Stamped {
  type: 'reactions';
  room: RoomId;
  counts: Partial<Record<ReactionKind, number>>;
}
export interface ServerChatMode extends Stamped {
  type: 'chat_mode';
  room: RoomId;
  sampled: boolean;
  rate: number;
}
export interface ServerBid extends Stamped {
  type: 'bid';
  room: RoomId;
  auction: string;
  current: number;
  leader: Author;
  bids: number;
  ends_at: UnixMillis;
  v: number;
}

/** The room was deleted: the last message of the room; joining it again is not_found. No seq. */
export interface ServerRoomClosed extends Stamped {
  type: 'room_closed';
  room: RoomId;
}

/** A successful reply; R is the result fields of the request. */
export type ServerReplyOk<R = {}> = Stamped & { type: 'reply'; id: string; ok: true } & R;
export interface ServerReplyError extends Stamped {
  type: 'reply';
  id: string;
  ok: false;
  error: ProtocolError;
}
export type ServerReply = ServerReplyOk<Record<string, unknown>> | ServerReplyError;

export interface ServerPong extends Stamped {
  type: 'pong';
  id?: string;
}
/** A problem with the connection (sent before a close), or a ban from `room`. */
export interface ServerError extends Stamped {
  type: 'error';
  code: ProtocolErrorCode;
  message: string;
  room?: RoomId;
}

/** Room events: numbered, applied in seq order. */
export type ServerRoomEvent =
  | ServerPinned
  | ServerUnpinned
  | ServerSaleEvent
  | ServerCatalog
  | ServerCommentDeleted
  | ServerChat
  | ServerAuctionEvent;

/** Volatile messages: no seq, the latest value matters. */
export type ServerVolatile =
  | ServerStock
  | ServerViewers
  | ServerPurchase
  | ServerComment
  | ServerReactions
  | ServerChatMode
  | ServerBid
  | ServerRoomClosed;

export type ServerMessage = ServerSnapshot | ServerRoomEvent | ServerVolatile | ServerReply | ServerPong | ServerError;

// Reply results (fields beside type, id, ok, ts).
export interface AuthResult {
  user: string;
  role: Role;
}
export interface RoomResult {
  room: RoomId;
}
export interface PinResult {
  room: RoomId;
  product: string;
}
export interface BuyResult {
  order: string;
  product: string;
  qty: number;
  /** The unit price charged. */
  price: number;
  remaining: number;
}
export interface SaleResult {
  sale: Sale;
}
export interface CommentResult {
  comment: Comment;
}
export interface AuctionStartResult {
  auction: Auction;
}
export interface BidResult {
  amount: number;
  leading: boolean;
  current: number;
  ends_at: UnixMillis;
}

// ---------------------------------------------------------------- HTTP bodies

export interface ProductSpec {
  id: string;
  name: string;
  price: number;
  currency: string;
  image: string;
  stock: number;
}
/** The body of PUT /api/rooms/{room}; the answer is the room's snapshot. */
export interface RoomSpec {
  title: string;
  products: ProductSpec[];
}
export interface Order {
  order: string;
  user: string;
  product: string;
  qty: number;
  price: number;
  sale: string | null;
  /** version 1.1: the auction the order came from. */
  auction?: string | null;
  at: UnixMillis;
}
/** GET /api/rooms/{room}/orders?after=&limit= */
export interface OrdersPage {
  orders: Order[];
  next: string | null;
}
/** The error body of every HTTP error answer. */
export interface HTTPErrorBody {
  error: ProtocolError;
}

// ---------------------------------------------------------------- the client

/** Returns a token (or null: connect anonymously); refresh is true after the server refused or expired the last one. */
export type TokenProvider = (opts: { refresh: boolean }) => Promise<string | null> | string | null;

export interface LiveClientOptions {
  /** WebSocket URL; default ws(s)://<this page's host>/ws. Required outside a browser. */
  url?: string;
  /** A token, or a provider called before every connection attempt. */
  token?: string | TokenProvider | null;
  /** A fresh token of the same user, asked for refreshBefore ms before the current one's exp and sent on the open connection. */
  refreshToken?: (() => Promise<string> | string) | null;
  /** The WebSocket class; default globalThis.WebSocket. */
  WebSocket?: new (url: string) => WebSocket;
  /** ms until a request without an answer fails with `timeout`; default 10000. */
  requestTimeout?: number;
  /** ms to wait for the reply to `auth`; default 8000. */
  authTimeout?: number;
  /** First reconnect delay in ms, doubled per attempt (half of it random); default 500. */
  backoffBase?: number;
  /** Longest reconnect delay in ms; default 15000. */
  backoffMax?: number;
  /** Keepalive ping period in ms; default 20000. */
  pingInterval?: number;
  /** ms without a pong before the connection counts as dead; default 10000. */
  pingTimeout?: number;
  /** A connection live this long (ms) resets the backoff; default 10000. */
  stableAfter?: number;
  /** After a resumed join, read GET /api/rooms/{room} for the current stock; default true. */
  refreshStock?: boolean;
  /** ms before the token's exp to refresh it (at most half its remaining life); default 30000. */
  refreshBefore?: number;
  /** Comments kept per room (room.comments); default 200. */
  maxComments?: number;
}

export type ConnectionState = 'idle' | 'connecting' | 'authenticating' | 'joining' | 'live' | 'reconnecting' | 'closed';

/** The live state of a joined room, kept up to date by the client. */
export interface RoomState {
  readonly id: RoomId;
  /** The server acknowledged the join on this connection. */
  joined: boolean;
  /** The last applied event seq; null before the first snapshot. */
  seq: number | null;
  title: string;
  /** Product id -> product, in catalog order; remaining and v are the latest known. */
  products: Map<string, Product>;
  pinned: Product | null;
  /** The current sale; an ended one is kept until the next snapshot. */
  sale: Sale | null;
  viewers: number;
  /** Product id -> the stock with the highest v. */
  stock: Map<string, { remaining: number; v: number }>;
  /** The error of the last failed join. */
  error: LiveError | null;
  // version 1.1
  /** The chat's settings and announcement (snapshot, `chat` events). */
  chat: ChatSettings;
  /** Visible comments, oldest first, in id order, each once; the deleted ones removed. */
  comments: Comment[];
  /** Ids of comments moderation removed (bounded): a late copy stays out. */
  deleted: Set<string>;
  /** Whether this connection gets a sample of the room's comments (`chat_mode`). */
  chatMode: { sampled: boolean; rate: number };
  /** The counts of the last `reactions` message. */
  reactions: Partial<Record<ReactionKind, number>>;
  /** The scheduled or live auction; an ended one is kept until the next snapshot. */
  auction: Auction | null;
  /** The `bid` message with the highest v seen for the current auction. */
  bid: LeadingBid | null;
  /** A ban took this connection out of the room. */
  banned: boolean;
}

/** The leading bid of an auction, as the `bid` message with the highest v gave it. */
export interface LeadingBid {
  auction: string;
  current: number;
  leader: Author | null;
  bids: number;
  ends_at: UnixMillis;
  v: number;
}

/** The detail of each event, by event name. */
export interface LiveClientEventMap {
  state: { state: ConnectionState; code?: number; delay?: number; attempt?: number };
  change: { room: RoomState; reason: string };
  snapshot: { room: RoomState; msg: ServerSnapshot };
  pinned: { room: RoomState; msg: ServerPinned };
  unpinned: { room: RoomState; msg: ServerUnpinned };
  sale: { room: RoomState; msg: ServerSaleEvent };
  catalog: { room: RoomState; msg: ServerCatalog };
  stock: { room: RoomState; product: string; remaining: number; v: number };
  viewers: { room: RoomState; count: number };
  purchase: { room: RoomState; product: string; qty: number; buyer: string; ts: UnixMillis };
  joined: { room: RoomState };
  joinerror: { room: RoomState; error: LiveError };
  clock: { offset: number | null; rtt: number | null };
  /** An `error` message; `room` is set when a ban took the connection out of that room. */
  servererror: { code: string; message: string; room?: RoomId };
  /** Every message received. */
  message: { msg: ServerMessage };
  // version 1.1
  /** A new comment (once per id), already in room.comments. */
  comment: { room: RoomState; comment: Comment };
  comment_deleted: { room: RoomState; msg: ServerCommentDeleted; ids: string[] };
  chat: { room: RoomState; msg: ServerChat };
  chat_mode: { room: RoomState; sampled: boolean; rate: number };
  reactions: { room: RoomState; counts: Partial<Record<ReactionKind, number>> };
  auction: { room: RoomState; msg: ServerAuctionEvent };
  /** Only when applied (a higher v). */
  bid: { room: RoomState } & LeadingBid;
  banned: { room: RoomState };
}

/** A failed request: `code` is the server's error code or the client's own. */
export declare class LiveError extends Error {
  constructor(code: ErrorCodeValue | string, message?: string, reply?: ServerReplyError | null);
  readonly name: 'LiveError';
  code: ErrorCodeValue;
  /** The server's reply, with its error's extra fields (retry_after_ms, until, min_bid). */
  reply: ServerReplyError | null;
  /** retry_after_ms (rate_limited, slow_mode, overloaded), else null. */
  retryAfterMs: number | null;
  /** until (muted): Unix ms of the server's clock, else null. */
  until: number | null;
  /** min_bid (bid_too_low), else null. */
  minBid: number | null;
}

/** Estimates serverClock - localClock from message `ts` and ping round trips. */
export declare class ClockSync {
  constructor();
  offset: number | null;
  rtt: number | null;
  lower: number;
  upper: number;
  reset(): void;
  observe(ts: number, recv?: number): boolean;
  observePong(ts: number, sent: number, recv?: number): boolean;
}

/** A message the client sends as a request: `id` is generated when absent. */
export type RequestMessage = Exclude<ClientMessage, ClientAuth | ClientJoin | ClientLeave | ClientPing> extends infer M
  ? M extends ClientMessage
    ? Omit<M, 'id'> & { id?: string }
    : never
  : never;

export interface RequestOptions {
  /** ms before the request fails with `timeout`. */
  timeout?: number;
  /** Idempotent: send again with the same id after a reconnect. */
  resend?: boolean;
}

export declare class LiveClient extends EventTarget {
  constructor(options?: LiveClientOptions);
  readonly url: string;
  readonly state: ConnectionState;
  readonly rooms: Map<RoomId, RoomState>;
  readonly clock: ClockSync;
  /** The token of the current connection. */
  readonly token: string | null;
  /** serverClock - localClock in ms, or null before the first message. */
  readonly clockOffset: number | null;
  /** Smallest ping round trip on this connection, ms, or null. */
  readonly rtt: number | null;

  /** Subscribes fn to an event; returns the function that unsubscribes. */
  on<K extends keyof LiveClientEventMap>(type: K, fn: (detail: LiveClientEventMap[K]) => void): () => void;
  /** The server's clock now, Unix ms. */
  serverNow(): UnixMillis;
  /** Starts connecting, and keeps reconnecting until close(). */
  connect(): this;
  /** Closes for good; pending requests fail with `closed`. */
  close(): void;
  /** Joins a room (now or once connected) and returns its live state. */
  join(roomId: RoomId): RoomState;
  leave(roomId: RoomId): void;
  room(roomId: RoomId): RoomState | undefined;
  /** Sends a request; resolves with the reply when ok, else rejects with a LiveError. */
  request<R = Record<string, unknown>>(msg: RequestMessage, opts?: RequestOptions): Promise<ServerReplyOk<R>>;
  /** Buys; the same id again gets the first answer and never buys twice. */
  buy(purchase: { room: RoomId; product: string; qty?: number; id?: string }, opts?: RequestOptions): Promise<ServerReplyOk<BuyResult>>;
  pin(room: RoomId, product: string, opts?: RequestOptions): Promise<ServerReplyOk<PinResult>>;
  unpin(room: RoomId, opts?: RequestOptions): Promise<ServerReplyOk<RoomResult>>;
  saleStart(room: RoomId, sale: SaleSpec, opts?: RequestOptions): Promise<ServerReplyOk<SaleResult>>;
  saleStop(room: RoomId, opts?: RequestOptions): Promise<ServerReplyOk<SaleResult>>;
  /** The token used on the current connection (for HTTP API calls). */
  getToken(): Promise<string | null>;

  // version 1.1: chat and moderation
  /** Posts a comment to a room joined on this connection; never resent. */
  comment(room: RoomId, text: string, opts?: RequestOptions): Promise<ServerReplyOk<CommentResult>>;
  /** Counts a reaction: without ack, sent without an id (true when sent); with ack, a request. */
  react(room: RoomId, kind: ReactionKind, opts?: { ack?: false }): boolean;
  react(room: RoomId, kind: ReactionKind, opts: RequestOptions & { ack: true }): Promise<ServerReplyOk<RoomResult>>;
  deleteComment(room: RoomId, comment: string, opts?: RequestOptions): Promise<ServerReplyOk<{ room: RoomId; comment: string }>>;
  /** durationMs: 1 s to 24 h; purge also removes the author's recent comments. */
  mute(room: RoomId, user: string, durationMs: number, opts?: RequestOptions & { purge?: boolean }): Promise<ServerReplyOk<{ room: RoomId; user: string; until: UnixMillis }>>;
  unmute(room: RoomId, user: string, opts?: RequestOptions): Promise<ServerReplyOk<{ room: RoomId; user: string }>>;
  ban(room: RoomId, user: string, opts?: RequestOptions): Promise<ServerReplyOk<{ room: RoomId; user: string }>>;
  unban(room: RoomId, user: string, opts?: RequestOptions): Promise<ServerReplyOk<{ room: RoomId; user: string }>>;
  chatSettings(
    room: RoomId,
    settings: { enabled?: boolean; slow_mode_ms?: number; announcement?: string | null },
    opts?: RequestOptions,
  ): Promise<ServerReplyOk<{ room: RoomId; chat: ChatSettings }>>;
  /** GET /api/rooms/{room}/chat/blocklist. */
  blockList(room: RoomId): Promise<string[]>;
  /** PUT /api/rooms/{room}/chat/blocklist: at most 200 terms of 1 to 50 characters. */
  setBlockList(room: RoomId, terms: string[]): Promise<string[]>;
  // version 1.1: auctions
  auctionStart(room: RoomId, auction: AuctionSpec, opts?: RequestOptions): Promise<ServerReplyOk<AuctionStartResult>>;
  auctionStop(room: RoomId, opts?: RequestOptions): Promise<ServerReplyOk<AuctionStartResult>>;
  /** Bids (a proxy bid up to max); the same id again gets the first answer, and it is resent after a reconnect. */
  bid(bid: { room: RoomId; auction: string; amount: number; max?: number | null; id?: string }, opts?: RequestOptions): Promise<ServerReplyOk<BidResult>>;
  /** The least amount the next bid on the room's live auction must reach, or null. */
  nextBid(roomId: RoomId): number | null;
  /** Calls the HTTP API with this client's token; rejects with a LiveError of the answer's code. */
  http<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
}

/** A random UUID (v4), also outside secure contexts. */
export declare function randomId(prefix?: string): string;
/** A valid room id: 1 to 64 characters of [A-Za-z0-9_-]. */
export declare function isRoomId(s: unknown): s is RoomId;
/** A price in minor units formatted in its currency: formatMoney(1999, 'USD') is "$19.99". */
export declare function formatMoney(minor: number, currency?: string, locale?: string): string;
/** The minor units of a currency (2 for USD, 0 for JPY). */
export declare function currencyDigits(currency?: string): number;
/** The token of the page's #token= fragment (kept in sessionStorage), or null. */
export declare function tokenFromFragment(): string | null;
/** A user id kept for the life of this browser tab. */
export declare function stickySub(key: string, prefix: string): string;
/** A development-mode token provider (POST /dev/token); null (anonymous) on a production node. */
export declare function devTokenProvider(opts?: { role?: Role; rooms?: RoomId[]; sub?: string; name?: string; endpoint?: string }): TokenProvider;
