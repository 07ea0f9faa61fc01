// Reaching the lab's API servers from the host without any link into the root netns:
//   host 127.0.0.1:<ephemeral>  --(port-forward, root netns)-->  unix socket in the lab's state dir
//   unix socket  --(relay, control-plane netns)-->  <LAN IP>:6443
// Path-named unix sockets are not network-namespaced, so the two processes meet through the filesystem.
// Both exit on their own once the lab's state file is gone (a crashed `lab up` cannot strand them).
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { HawserError } from '../util/errors.js';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

function listen(server: Server, ...args: [string] | [number, string]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (args.length === 1) server.listen(args[0], done);
    else server.listen(args[0], args[1], done);
  });
}

/** Exits the process when `stateFile` disappears (the lab was torn down) or on SIGTERM/SIGINT. */
function exitWithLab(stateFile: string | undefined, cleanup: () => void): void {
  const bye = (): void => {
    cleanup();
    process.exit(0);
  };
  process.once('SIGTERM', bye);
  process.once('SIGINT', bye);
  if (stateFile) setInterval(() => existsSync(stateFile) || bye(), 1000);
}

/** Serves `unixPath`, relaying each connection to host:port (run inside the control-plane netns). */
export async function runRelay(unixPath: string, connect: string, stateFile?: string): Promise<void> {
  const m = /^(.+):(\d+)$/.exec(connect);
  if (!m) throw new HawserError('INVALID', `relay: --connect ${connect} is not host:port`);
  const [host, port] = [m[1]!, Number(m[2])];
  rmSync(unixPath, { force: true });
  const server = createServer((client) => {
    const upstream = createConnection({ host, port });
    pipeBoth(client, upstream);
  });
  await listen(server, unixPath);
  exitWithLab(stateFile, () => rmSync(unixPath, { force: true }));
}

/**
 * Listens on 127.0.0.1 (ephemeral port) for each `name=unixPath`, forwarding to that socket, and
 * writes `{name: port}` to `portsFile` once all listen.
 */
export async function runPortForward(targets: Record<string, string>, portsFile: string, stateFile?: string): Promise<void> {
  const ports: Record<string, number> = {};
  for (const [name, unixPath] of Object.entries(targets)) {
    const server = createServer((client) => pipeBoth(client, createConnection({ path: unixPath })));
    await listen(server, 0, '127.0.0.1');
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new HawserError('EXEC', 'port-forward: no TCP address after listen');
    ports[name] = addr.port;
  }
  const tmp = `${portsFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(ports) + '\n');
  renameSync(tmp, portsFile);
  exitWithLab(stateFile, () => undefined);
}
