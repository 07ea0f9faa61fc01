// The NAT decision for one remote endpoint, as a state machine over explicit times (no timers here,
// so tests drive it with plain numbers).
//
//   probing ──private answers──────────────────────────────▶ decided (private)
//      │  └──public answers──▶ public-pending ──grace over──▶ decided (public)
//      │                          └──private answers in grace─▶ decided (private)
//      └──no answer for fallbackMs──▶ fallback (guess; keeps probing slowly, a later answer replaces it)
//
// Unlike Submariner, which connects to the public IP at once and switches if the private one answers
// within a second, the public answer is held for the grace period: the engine then connects once instead
// of connecting and reconnecting a moment later.
import type { EndpointSpec } from '../../k8s/resources.js';
import type { NatInfo } from '../types.js';

export const NATT_DISCOVERY_PORT_KEY = 'natt-discovery-port';
export const USING_LOAD_BALANCER_KEY = 'using-loadbalancer';
export const DEFAULT_NATT_DISCOVERY_PORT = 4490;

export interface NatTimings {
  /** Probes to the private and public IP are sent this often while undecided. */
  probeIntervalMs: number;
  /** How long a public answer waits for the private one (private is preferred). */
  privateGraceMs: number;
  /** Without any answer for this long, guess from the endpoints' NAT flags. */
  fallbackMs: number;
  /** The same, for remotes behind a load balancer (backend_config `using-loadbalancer`). */
  loadBalancerFallbackMs: number;
  /** After a guess, probes continue this often so that a late answer can correct it. */
  reprobeAfterFallbackMs: number;
  /** A request number stays answerable this long. */
  requestTtlMs: number;
}

/**
 * Against Submariner (remote_endpoint.go, natdiscovery.go, the same in 0.19 and 2026-03):
 * - fallbackMs 60 s and loadBalancerFallbackMs 6 s = its totalTimeout / totalTimeoutLoadBalancer;
 * - privateGraceMs 1 s = its publicToPrivateFailoverTimeout (a private answer still wins within 1 s);
 * - probeIntervalMs: Submariner re-sends every recheckTime 2 s, checked by a 1 s loop (so every 2-3 s). hawser
 *   re-sends every 1 s while undecided: a lost first datagram costs 1 s instead of 3 s, for two ~100-byte
 *   datagrams a second per undecided remote. Answers are the same either way, so mixed peers agree.
 * - After a fallback Submariner stops probing; hawser re-probes every 10 s so a late answer corrects the guess.
 */
export const DEFAULT_NAT_TIMINGS: NatTimings = {
  probeIntervalMs: 1000,
  privateGraceMs: 1000,
  fallbackMs: 60_000,
  loadBalancerFallbackMs: 6_000,
  reprobeAfterFallbackMs: 10_000,
  requestTtlMs: 10_000,
};

export type ProbeKind = 'private' | 'public';
export type NatState = 'probing' | 'public-pending' | 'fallback' | 'decided';
/** How a decision was reached, for logs and status. */
export type DecisionSource = 'private-answer' | 'public-answer' | 'fallback' | 'no-discovery';

export interface Probe {
  kind: ProbeKind;
  ip: string;
}

export interface DecisionChange {
  info: NatInfo;
  source: DecisionSource;
}

/** The remote's NAT discovery port, or undefined when it does not speak the protocol (or the value is bad). */
export function remoteDiscoveryPort(remote: EndpointSpec): number | undefined {
  const v = remote.backendConfig[NATT_DISCOVERY_PORT_KEY];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

export function usesLoadBalancer(remote: EndpointSpec): boolean {
  return remote.backendConfig[USING_LOAD_BALANCER_KEY]?.toLowerCase() === 'true';
}

/**
 * The guess used without answers, as Submariner's `useLegacyNATSettings` (remote_endpoint.go): only the
 * *remote's* flags count. Behind a load balancer, or with `nat_enabled`, its public IP with NAT; otherwise its
 * private IP without. (Our own SUBMARINER_NATENABLED does not enter: both sides then pick the same way.)
 */
export function fallbackDecision(remote: EndpointSpec): NatInfo {
  if (usesLoadBalancer(remote) || remote.natEnabled) return { useIP: remote.publicIP || remote.privateIP, useNAT: true };
  return { useIP: remote.privateIP, useNAT: false };
}

export function sameNatInfo(a: NatInfo | undefined, b: NatInfo | undefined): boolean {
  return a !== undefined && b !== undefined && a.useIP === b.useIP && a.useNAT === b.useNAT;
}

export class RemoteNatProbe {
  state: NatState = 'probing';
  decision: NatInfo | undefined;
  source: DecisionSource | undefined;
  /** The last thing that went wrong with this remote (a refusal, a send error), for status. */
  lastProblem: string | undefined;
  private pendingPublic: { info: NatInfo; since: number } | undefined;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private readonly startedAt: number;

  constructor(
    readonly remote: EndpointSpec,
    private readonly timings: NatTimings,
    now: number,
    /** False when either side has no discovery port: decide from the NAT flags at once. */
    discoveryPossible: boolean,
  ) {
    this.startedAt = now;
    if (!discoveryPossible) this.decide(fallbackDecision(remote), 'no-discovery', 'decided');
  }

  /** The addresses to probe: the private IP, and the public IP when it is another address. */
  targets(): Probe[] {
    const out: Probe[] = [{ kind: 'private', ip: this.remote.privateIP }];
    if (this.remote.publicIP && this.remote.publicIP !== this.remote.privateIP) out.push({ kind: 'public', ip: this.remote.publicIP });
    return out;
  }

  /** Probes to send at `now` (and records that they were sent). */
  probesDue(now: number): Probe[] {
    if (this.state === 'decided') return [];
    const every = this.state === 'fallback' ? this.timings.reprobeAfterFallbackMs : this.timings.probeIntervalMs;
    if (now - this.lastProbeAt < every) return [];
    this.lastProbeAt = now;
    return this.targets();
  }

  /** The next probesDue() sends at once (after the remote asked for another endpoint-id form). */
  probeNow(): void {
    this.lastProbeAt = Number.NEGATIVE_INFINITY;
  }

  /** An OK or NAT_DETECTED answer to a probe of `kind`. Returns the decision if it changed. */
  onAnswer(kind: ProbeKind, natDetected: boolean, now: number): DecisionChange | undefined {
    if (this.state === 'decided') return undefined;
    if (kind === 'private') {
      this.pendingPublic = undefined;
      return this.decide({ useIP: this.remote.privateIP, useNAT: natDetected }, 'private-answer', 'decided');
    }
    if (this.state !== 'public-pending') {
      this.pendingPublic = { info: { useIP: this.remote.publicIP, useNAT: natDetected }, since: now };
      this.state = 'public-pending';
    }
    return this.tick(now);
  }

  /** Time passing: the grace period or the fallback deadline may have run out. */
  tick(now: number): DecisionChange | undefined {
    if (this.state === 'public-pending' && this.pendingPublic && now - this.pendingPublic.since >= this.timings.privateGraceMs) {
      const { info } = this.pendingPublic;
      this.pendingPublic = undefined;
      return this.decide(info, 'public-answer', 'decided');
    }
    if (this.state === 'probing') {
      const limit = usesLoadBalancer(this.remote) ? this.timings.loadBalancerFallbackMs : this.timings.fallbackMs;
      if (now - this.startedAt >= limit) {
        this.lastProbeAt = now; // the next probe comes after reprobeAfterFallbackMs
        return this.decide(fallbackDecision(this.remote), 'fallback', 'fallback');
      }
    }
    return undefined;
  }

  private decide(info: NatInfo, source: DecisionSource, state: NatState): DecisionChange | undefined {
    const changed = !sameNatInfo(this.decision, info);
    this.state = state;
    this.source = source;
    this.decision = info;
    return changed ? { info, source } : undefined;
  }
}
