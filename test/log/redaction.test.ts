import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, levelFromEnv, registerSecret } from '../../src/log/index.js';

function sink(): { stream: Writable; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let buf = '';
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { buf += chunk.toString(); cb(); } });
  return { stream, raw: () => buf, lines: () => buf.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('log: redaction and fields', () => {
  it('redacts secret fields at any call site', () => {
    const s = sink();
    const log = createLogger({ level: 'info', destination: s.stream });
    log.info({ psk: 'p1', cable: 'c', peer: { privateKey: 'k1', presharedKey: 'k2' }, headers: { authorization: 'Bearer t' } }, 'x');
    const [line] = s.lines();
    assert.equal(line!.psk, '[Redacted]');
    assert.deepEqual(line!.peer, { privateKey: '[Redacted]', presharedKey: '[Redacted]' });
    assert.deepEqual(line!.headers, { authorization: '[Redacted]' });
    assert.equal(line!.cable, 'c');
    assert.equal(line!.level, 'info');
  });

  it('scrubs registered secret values from messages and errors', () => {
    const s = sink();
    registerSecret('TOPSECRET-psk-value');
    const log = createLogger({ level: 'info', destination: s.stream });
    log.error({ err: new Error('auth failed with TOPSECRET-psk-value') }, 'connect TOPSECRET-psk-value');
    assert.ok(!s.raw().includes('TOPSECRET'));
    assert.ok(s.raw().includes('[Redacted]'));
  });

  it('maps Submariner debug switches onto the level', () => {
    assert.equal(levelFromEnv({}), 'info');
    assert.equal(levelFromEnv({ CE_IPSEC_DEBUG: 'true' }), 'debug');
    assert.equal(levelFromEnv({ SUBMARINER_DEBUG: 'true', LOG_LEVEL: 'warn' }), 'warn');
    assert.equal(levelFromEnv({ SUBMARINER_VERBOSITY: '3' }), 'debug');
  });
});
