import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CableStateLog } from '../../src/gateway/cable-log.js';
import { createLogger } from '../../src/log/index.js';
import type { CableStateChange } from '../../src/cable-drivers/engine.js';

const change = (cable: string, from: CableStateChange['from'], to: CableStateChange['to'], statusMessage = '', why?: string): CableStateChange =>
  ({ cable, cluster: `c-${cable}`, from, to, statusMessage, ...(why ? { why } : {}) });

describe('gateway cable state log', () => {
  it('writes one info line per change to connected/error/removed (connecting at debug), with the stable fields', () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }) });
    const sl = new CableStateLog(log);
    sl.write(change('x', undefined, 'connecting', 'configuring the cable'));
    sl.write(change('x', 'connecting', 'connected', 'handshake 1 s ago'));
    sl.write(change('x', 'connected', 'error', 'no handshake'));
    sl.write(change('x', 'error', 'removed', '', 'gone'));
    assert.deepEqual(lines.map((l) => `${l.msg} ${l.cable} ${l.previous}`), ['cable connected x connecting', 'cable error x connected', 'cable removed x error']);
    assert.deepEqual(lines.map((l) => [l.remoteCluster, l.endpoint, l.cable].every((v) => typeof v === 'string')), [true, true, true]);
    assert.equal(lines[1]!.statusMessage, 'no handshake');
    assert.equal(lines[2]!.why, 'gone');
    assert.equal('statusMessage' in lines[2]!, false);
  });
});
