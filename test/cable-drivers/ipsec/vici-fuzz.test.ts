// Fuzzing the VICI decoder (seeded, reproducible): random, truncated and mutated buffers must only ever
// decode or throw a ViciError: never another exception, never a hang.
import assert from 'node:assert/strict';
import {
  PacketReader, PacketType, ViciError, decodeMessage, decodePacket, encodeMessage, encodePacket, type ViciInputSection,
} from '../../../src/cable-drivers/ipsec/vici/index.js';
import { seededRandom } from '../../support/prng.js';

const rng = seededRandom;

const SEED = Number(process.env.VICI_FUZZ_SEED ?? 20240611);

function randomTree(r: () => number, depth: number): ViciInputSection {
  const out: Record<string, unknown> = {};
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const key = `k${i}${'x'.repeat(Math.floor(r() * 4))}`;
    const kind = r();
    if (kind < 0.4) out[key] = 'v'.repeat(Math.floor(r() * 20));
    else if (kind < 0.7) out[key] = Array.from({ length: Math.floor(r() * 4) }, (_, j) => `item${j}`);
    else if (depth < 4) out[key] = randomTree(r, depth + 1);
    else out[key] = String(Math.floor(r() * 1e6));
  }
  return out as ViciInputSection;
}

function randomBytes(r: () => number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = r() < 0.6 ? Math.floor(r() * 8) : Math.floor(r() * 256);
  return b;
}

function mutate(r: () => number, src: Buffer): Buffer {
  const b = Buffer.from(src);
  const ops = 1 + Math.floor(r() * 4);
  let out = b;
  for (let k = 0; k < ops; k++) {
    const op = r();
    const at = Math.floor(r() * Math.max(1, out.length));
    if (op < 0.5 && out.length) out[at] = Math.floor(r() * 256);
    else if (op < 0.75) out = Buffer.concat([out.subarray(0, at), Buffer.from([Math.floor(r() * 256)]), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}

/** Runs fn; a ViciError counts as a (typed) rejection, anything else fails the test. */
function onlyTyped(fn: () => unknown, what: string): 'ok' | 'error' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof ViciError) return 'error';
    throw new Error(`${what}: threw a non-VICI error: ${(err as Error)?.stack ?? String(err)}`);
  }
}

describe('vici decoder fuzz', function () {
  this.timeout(30_000);

  it(`random buffers (seed ${SEED}): decode or typed error`, () => {
    const r = rng(SEED);
    const seen = { ok: 0, error: 0 };
    for (let i = 0; i < 4000; i++) {
      const buf = randomBytes(r, Math.floor(r() * 120));
      seen[onlyTyped(() => decodeMessage(buf), `message case ${i}`)]++;
      seen[onlyTyped(() => decodePacket(buf), `packet case ${i}`)]++;
    }
    assert.ok(seen.ok > 0 && seen.error > 0, JSON.stringify(seen));
  });

  it(`truncations of valid messages at every offset (seed ${SEED})`, () => {
    const r = rng(SEED + 1);
    let cases = 0;
    for (let i = 0; i < 150; i++) {
      const full = encodeMessage(randomTree(r, 0));
      assert.doesNotThrow(() => decodeMessage(full));
      for (let cut = 0; cut < full.length; cut++) {
        onlyTyped(() => decodeMessage(full.subarray(0, cut)), `tree ${i} cut ${cut}`);
        cases++;
      }
    }
    assert.ok(cases > 1000, `${cases} truncations`);
  });

  it(`mutated valid packets, fed to the stream reader in random chunks (seed ${SEED})`, () => {
    const r = rng(SEED + 2);
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const types = [PacketType.CMD_REQUEST, PacketType.CMD_RESPONSE, PacketType.EVENT, PacketType.EVENT_CONFIRM];
      const t = types[Math.floor(r() * types.length)]!;
      const named = t === PacketType.CMD_REQUEST || t === PacketType.EVENT;
      const withMsg = t !== PacketType.EVENT_CONFIRM;
      const good = encodePacket(t, named ? 'list-sa' : undefined, withMsg ? randomTree(r, 0) : undefined);
      const bad = mutate(r, good);
      onlyTyped(() => decodePacket(bad.subarray(4)), `packet body case ${i}`);
      const reader = new PacketReader(4096);
      let pos = 0;
      onlyTyped(() => {
        while (pos < bad.length) {
          const n = 1 + Math.floor(r() * 16);
          decoded += reader.push(bad.subarray(pos, pos + n)).length;
          pos += n;
        }
      }, `stream case ${i}`);
      assert.ok(reader.pending <= bad.length, 'the reader never holds more than it was given');
    }
    assert.ok(decoded > 0, 'some mutations still decode');
  });
});
