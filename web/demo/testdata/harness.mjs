// harness.mjs: starts a real liveserver binary for the tests of
// liveclient.js, with a JWT secret, on a loopback port, and stops and
// restarts it. The binary is $LIVESERVER_BIN (the Go test TestLiveClientJS
// builds it) or, when that is unset, built here with `go build`.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const secret = randomBytes(32).toString('base64');

let built = null;
function binary() {
  if (process.env.LIVESERVER_BIN) return process.env.LIVESERVER_BIN;
  if (!built) {
    built = join(mkdtempSync(join(tmpdir(), 'liveclient-test-')), 'liveserver');
    execFileSync('go', ['build', '-o', built, './cmd/liveserver'], { cwd: repo, stdio: 'inherit' });
  }
  return built;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** An HS256 JWT as the node expects it: sub, role, rooms, exp. */
export function signToken({ sub, role = 'viewer', rooms, ttl = 3600 }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, role, iat: now, exp: now + ttl };
  if (rooms) claims.rooms = rooms;
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 10 ms until it holds; rejects after ms with what. */
export async function until(what, cond, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A liveserver node on a fixed loopback port: start() and stop() may be
 * called again and again (a restart keeps the address; in memory, the
 * state starts over with the seeded room "demo").
 */
export class Node {
  constructor(port) {
    this.port = port;
    this.http = `http://127.0.0.1:${port}`;
    this.ws = `ws://127.0.0.1:${port}/ws`;
    this.proc = null;
    this.log = '';
  }

  /** A node in memory, or in cluster mode on the Redis at redisURL. */
  static async start(redisURL) {
    const n = new Node(await freePort());
    n.redisURL = redisURL;
    await n.start();
    return n;
  }

  async start() {
    const redis = this.redisURL ? ['-redis', this.redisURL] : [];
    const args = [...redis, '-addr', `127.0.0.1:${this.port}`, '-log-level', 'warn', '-drain-timeout', '200ms',
      // Every test client comes from 127.0.0.1: the per-client limits are off.
      '-max-conns-per-ip', '0', '-max-conns-per-user', '0', '-http-rate-per-ip', '0', '-http-rate-per-user', '0'];
    const proc = spawn(binary(), args, { env: { ...process.env, LIVESERVER_JWT_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.exited = new Promise((resolve) => proc.on('exit', resolve));
    const keep = (d) => (this.log = (this.log + d).slice(-8000));
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    await until(`the node on ${this.port} to be ready`, async () => {
      if (proc.exitCode !== null) throw new Error(`liveserver exited with ${proc.exitCode}:\n${this.log}`);
      try {
        return (await fetch(`${this.http}/readyz`)).ok;
      } catch {
        return false;
      }
    }, 30000);
  }

  /** SIGTERM (the node drains with 1001), then waits for the exit. */
  async stop() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await proc.exited;
    clearTimeout(t);
  }

  /** A call of the HTTP API; rejects on an error status with its code. */
  async api(method, path, token, body) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.http + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const answer = await res.json();
    if (!res.ok) throw Object.assign(new Error(`${method} ${path}: ${res.status} ${answer.error?.code}`), { code: answer.error?.code });
    return answer;
  }
}

/**
 * A redis-server of the test's own on a free port, or null when none is
 * installed (an error when LIVESERVER_REQUIRE_REDIS=1, as in CI).
 */
export async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const failed = await new Promise((resolve) => {
    proc.on('error', resolve);
    proc.on('spawn', () => resolve(null));
  });
  if (failed) {
    if (process.env.LIVESERVER_REQUIRE_REDIS === '1') throw new Error(`redis-server: ${failed.message}`);
    return null;
  }
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await until('redis-server to answer', () => new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('PING\r\n'));
    c.on('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
    c.on('error', () => resolve(false));
  }));
  return {
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A TCP proxy to a node that a test can cut (every connection closed, new
 * ones refused until restore) or blackhole (what the node sends is dropped,
 * as when an answer is lost on the way).
 */
export class Proxy {
  static async start(targetPort) {
    const p = new Proxy();
    p.cut = false;
    p.blackhole = false;
    p.socks = new Set();
    p.server = net.createServer((c) => {
      if (p.cut) return c.destroy();
      const up = net.connect(targetPort, '127.0.0.1');
      p.socks.add(c).add(up);
      c.on('data', (d) => up.write(d));
      up.on('data', (d) => !p.blackhole && c.write(d));
      const end = () => {
        c.destroy();
        up.destroy();
        p.socks.delete(c);
        p.socks.delete(up);
      };
      c.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
    await new Promise((r) => p.server.listen(0, '127.0.0.1', r));
    p.url = `ws://127.0.0.1:${p.server.address().port}/ws`;
    return p;
  }

  cutAll() {
    this.cut = true;
    for (const s of this.socks) s.destroy();
    this.socks.clear();
  }

  restore() {
    this.cut = false;
    this.blackhole = false;
  }

  close() {
    this.cutAll();
    return new Promise((r) => this.server.close(r));
  }
}
