// Entry of the netns worker (see nsworker.ts): runs inside the target namespace, answers one JSON
// request per line, exits when its stdin closes.
import { createInterface } from 'node:readline';
import { errorMessage, isHawserError } from '../util/errors.js';
import { NetlinkRtnl, type RtnlOp } from './netlink.js';
import { LocalRtnlEvents } from './rtnl-events.js';
import { LocalSysctl } from './sysctl.js';
import { localEngine, type NftRunOptions } from './nft.js';
import type { NftEngine } from './nftables/engine.js';
import type { WorkerRequest, WorkerResponse } from './nsworker.js';

const rtnl = new NetlinkRtnl();
const sysctl = new LocalSysctl();
let events: LocalRtnlEvents | undefined;
let nft: NftEngine | undefined;

function str(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`expected a string parameter, got ${typeof v}`);
  return v;
}

async function handle(req: WorkerRequest): Promise<unknown> {
  const p = req.params;
  switch (req.method) {
    case 'links':
      return rtnl.links();
    case 'addresses':
      return rtnl.addresses();
    case 'routes':
      return rtnl.routes();
    case 'rules':
      return rtnl.rules();
    case 'neighbors': {
      const fam = str(p[0]);
      if (fam !== 'bridge' && fam !== 'inet') throw new Error(`neighbors: unknown family ${fam}`);
      return rtnl.neighbors(fam);
    }
    case 'apply':
      if (!Array.isArray(p[0])) throw new Error('apply: expected an array of operations');
      // the ops come from the parent process, which built them from the same types
      return rtnl.apply(p[0] as RtnlOp[]).then(async (out) => {
        // relay the notifications of these writes before the answer (see RtnlEventSource.barrier)
        if (events) await events.barrier();
        return out;
      });
    case 'barrier':
      if (events) await events.barrier();
      return null;
    case 'subscribe':
      if (!events) {
        events = new LocalRtnlEvents();
        await events.subscribe({
          events: (evs) => process.stdout.write(JSON.stringify({ events: evs }) + '\n'),
          lost: (why) => process.stdout.write(JSON.stringify({ lost: why }) + '\n'),
        });
      }
      return null;
    case 'sysctlGet':
      return (await sysctl.get(str(p[0]))) ?? null;
    case 'nft': {
      nft ??= localEngine();
      const opts = (typeof p[1] === 'object' && p[1] !== null ? p[1] : {}) as Record<string, unknown>;
      const runOpts: NftRunOptions = { json: opts.json === true, terse: opts.terse === true };
      return { ...(await nft.run(str(p[0]), runOpts)), pid: nft.committerPid() ?? null };
    }
    case 'sysctlSet':
      await sysctl.set(str(p[0]), str(p[1]));
      return null;
    default:
      throw new Error(`unknown method ${String(req.method)}`);
  }
}

function send(res: WorkerResponse): void {
  process.stdout.write(JSON.stringify(res) + '\n');
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: WorkerRequest;
  try {
    req = JSON.parse(line) as WorkerRequest;
  } catch {
    return;
  }
  handle(req).then(
    (result) => send({ id: req.id, result }),
    (err: unknown) => send({ id: req.id, error: { message: errorMessage(err), code: isHawserError(err) ? err.code : undefined } }),
  );
});
lines.on('close', () => {
  void Promise.all([rtnl.close(), events?.close()]).finally(() => process.exit(0));
});
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
