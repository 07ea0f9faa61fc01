import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CableStateLog, diffCableStates } from '../../src/gateway/cable-log.js';
import { createLogger } from '../../src/log/index.js';
import type { ConnectionView } from '../../src/cable-drivers/engine.js';
import type { EndpointSpec } from '../../src/k8s/resources.js';

const conn = (cable: string, status: ConnectionView['status'], msg = ''): ConnectionView =>
  ({ cableName: cable, clusterId: `c-${cable}`, endpoint: {} as EndpointSpec, status, statusMessage: msg, usingIP: '', usingNAT: false });

describe('gateway cable state log', () => {
  it('diffs states: new, changed, unchanged, removed', () => {
    const first = diffCableStates(new Map(), [conn('x', 'connecting'), conn('y', 'connected')]);
    assert.deepEqual(first.changes.map((c) => `${c.cable}:${c.from ?? '-'}>${c.to}`), ['x:->connecting', 'y:->connected']);
    const second = diffCableStates(first.next, [conn('x', 'connected'), conn('y', 'connected')]);
    assert.deepEqual(second.changes.map((c) => `${c.cable}:${c.from}>${c.to}`), ['x:connecting>connected']);
    const third = diffCableStates(second.next, [conn('x', 'error', 'bad key')]);
    assert.deepEqual(third.changes.map((c) => `${c.cable}:${c.from}>${c.to}:${c.statusMessage}`), ['x:connected>error:bad key', 'y:connected>removed:']);
  });

  it('logs one info line per change to connected/error/removed (connecting at debug), none for a forgotten cable', () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, cb) => { lines.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }) });
    const sl = new CableStateLog(log);
    sl.observe([conn('x', 'connecting')]);
    sl.observe([conn('x', 'connected', 'handshake 1 s ago')]);
    sl.observe([conn('x', 'connected', 'handshake 2 s ago')]);
    sl.observe([conn('x', 'error', 'no handshake')]);
    sl.observe([]);
    sl.observe([conn('z', 'connected')]);
    sl.forget('z');
    sl.observe([]);
    assert.deepEqual(lines.map((l) => `${l.msg} ${l.cable}`), ['cable connected x', 'cable error x', 'cable removed x', 'cable connected z']);
    assert.deepEqual(lines.map((l) => [l.remoteCluster, l.endpoint, l.cable].every((v) => typeof v === 'string')), [true, true, true, true]);
  });
});
