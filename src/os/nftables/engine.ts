// The two ways hawser runs nftables commands, behind one interface: libnftables loaded into this process
// through koffi (no process per change: a one-element change costs ~0.1 ms), and the `nft` binary as the
// fallback when the library cannot be loaded. Both take nft's own command language and answer with the
// output and error buffers nft would print; callers translate failures (errors.ts).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { HawserError } from '../../util/errors.js';

export interface NftRunOptions {
  /** JSON output (`nft -j`), for listings read by code. */
  json?: boolean;
  /** Leave set elements out of listings (`nft -t`). */
  terse?: boolean;
}

export type NftResult = { ok: true; output: string } | { ok: false; output: string; error: string };

export interface NftEngine {
  readonly kind: 'libnftables' | 'nft-binary';
  /** Process that commits the transactions (its PID appears in nftables' generation notifications). */
  readonly committerPid: () => number | undefined;
  run(commands: string, opts?: NftRunOptions): Promise<NftResult>;
  close(): void;
}

// libnftables output flags (nftables.h: NFT_CTX_OUTPUT_JSON, NFT_CTX_OUTPUT_TERSE).
const OUTPUT_JSON = 1 << 4;
const OUTPUT_TERSE = 1 << 11;
/** Scripts above this size run on koffi's worker thread so a 50,000-element load does not stall the event loop. */
const ASYNC_ABOVE_BYTES = 64 * 1024;

type Fn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

interface KoffiLib {
  func(signature: string): Fn;
  unload(): void;
}

interface Koffi {
  load(path: string): KoffiLib;
  opaque(name: string): unknown;
}

let koffiTypesDeclared = false;

/**
 * libnftables in this process, or the reason it cannot be loaded. One context per engine: libnftables
 * keeps a cache in it, and a context is not safe for concurrent use, so calls are serialized.
 */
export function openLibnftables(soname = 'libnftables.so.1'): NftEngine | { unavailable: string } {
  let lib: KoffiLib;
  let fns: Record<'ctxNew' | 'ctxFree' | 'bufOut' | 'bufErr' | 'getOut' | 'getErr' | 'setFlags' | 'runCmd', Fn>;
  try {
    // koffi is CommonJS with a native addon; createRequire keeps this module loadable as ESM and under tsx
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    lib = koffi.load(soname);
    if (!koffiTypesDeclared) {
      koffi.opaque('nft_ctx');
      koffiTypesDeclared = true;
    }
    fns = {
      ctxNew: lib.func('nft_ctx *nft_ctx_new(uint32_t flags)'),
      ctxFree: lib.func('void nft_ctx_free(nft_ctx *ctx)'),
      bufOut: lib.func('int nft_ctx_buffer_output(nft_ctx *ctx)'),
      bufErr: lib.func('int nft_ctx_buffer_error(nft_ctx *ctx)'),
      getOut: lib.func('const char *nft_ctx_get_output_buffer(nft_ctx *ctx)'),
      getErr: lib.func('const char *nft_ctx_get_error_buffer(nft_ctx *ctx)'),
      setFlags: lib.func('void nft_ctx_output_set_flags(nft_ctx *ctx, unsigned int flags)'),
      runCmd: lib.func('int nft_run_cmd_from_buffer(nft_ctx *ctx, const char *buf)'),
    };
  } catch (err) {
    return { unavailable: `cannot load ${soname} through koffi: ${err instanceof Error ? err.message : String(err)}` };
  }
  const ctx = fns.ctxNew(0);
  if (!ctx) return { unavailable: 'nft_ctx_new returned NULL' };
  if (fns.bufOut(ctx) !== 0 || fns.bufErr(ctx) !== 0) return { unavailable: 'libnftables refused to buffer its output' };
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const collect = (rc: number): NftResult => {
    // Each read also resets libnftables' buffer for the next command.
    const output = (fns.getOut(ctx) as string | null) ?? '';
    const error = (fns.getErr(ctx) as string | null) ?? '';
    return rc === 0 ? { ok: true, output } : { ok: false, output, error: error || `libnftables returned ${rc}` };
  };
  const runOne = (commands: string, opts: NftRunOptions): Promise<NftResult> => {
    if (closed) return Promise.reject(new HawserError('NFT', 'the libnftables context was closed'));
    fns.setFlags(ctx, (opts.json ? OUTPUT_JSON : 0) | (opts.terse ? OUTPUT_TERSE : 0));
    if (Buffer.byteLength(commands) <= ASYNC_ABOVE_BYTES) return Promise.resolve(collect(fns.runCmd(ctx, commands) as number));
    return new Promise((resolve, reject) => {
      fns.runCmd.async(ctx, commands, (err: unknown, rc: number) => {
        if (err) reject(new HawserError('NFT', `libnftables call failed: ${String(err)}`));
        else resolve(collect(rc));
      });
    });
  };
  return {
    kind: 'libnftables',
    committerPid: () => process.pid,
    run(commands, opts = {}) {
      const next = queue.then(() => runOne(commands, opts));
      queue = next.catch(() => undefined);
      return next;
    },
    close() {
      if (closed) return;
      closed = true;
      void queue.then(() => fns.ctxFree(ctx));
    },
  };
}

/** The `nft` binary, one process per call (the fallback). */
export function binaryEngine(binary = 'nft'): NftEngine {
  let lastPid: number | undefined;
  return {
    kind: 'nft-binary',
    committerPid: () => lastPid,
    run(commands, opts = {}) {
      const args = [...(opts.json ? ['-j'] : []), ...(opts.terse ? ['-t'] : []), '-f', '-'];
      return new Promise((resolve, reject) => {
        const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        lastPid = child.pid;
        let output = '';
        let error = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (error += d));
        child.stdin.on('error', () => undefined);
        child.on('error', (err) => reject(new HawserError('EXEC', `cannot run ${binary}: ${err.message}; install the nftables package (Debian: apt-get install nftables)`, { cause: err })));
        child.on('close', (code) => resolve(code === 0 ? { ok: true, output } : { ok: false, output, error: error || `${binary} exited with ${code}` }));
        child.stdin.end(commands);
      });
    },
    close() {
      // nothing held between calls
    },
  };
}
