// The declarations (liveclient.d.ts) name every export of liveclient.js,
// and ErrorCode's keys, no more and no fewer.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const dts = readFileSync(new URL('../liveclient.d.ts', import.meta.url), 'utf8');
const mod = await import('../static/liveclient.js');

test('every export of liveclient.js is declared, and nothing else', () => {
  const declared = [...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(mod).sort());
});

test('ErrorCode: the same names and codes', () => {
  const block = /export declare const ErrorCode: Readonly<\{([^}]*)\}>/.exec(dts)[1];
  const declared = Object.fromEntries([...block.matchAll(/(\w+): '(\w+)'/g)].map((m) => [m[1], m[2]]));
  assert.deepEqual(declared, { ...mod.ErrorCode });
});
