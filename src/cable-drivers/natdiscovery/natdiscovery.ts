// NAT discovery (Submariner-compatible, UDP 4490): answers other gateways' probes, and probes each
// remote endpoint's private and public IP to decide which IP to use and whether NAT sits between us.
// Decisions come out as 'decided' events (cable name, NatInfo, how it was reached); they are final
// except after a fallback guess, which a later answer may still correct.
//
// IPv4 only (like Submariner's udp4 listener). A malformed or unexpected datagram is dropped with a
// debug log and counted; nothing a peer sends can throw out of the listener.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log/index.js';
import type { EndpointSpec } from '../../k8s/resources.js';
import type { NatInfo } from '../types.js';
import { errorMessage } from '../../util/errors.js';
import { type EndpointIdForm, answerRequest, endpointId, endpointIdForm } from './answer.js';
import {
  type NatResponse, ResponseType, decodeMessage, encodeRequestMessage, encodeResponseMessage, responseTypeName,
} from './messages.js';
import {
  DEFAULT_NAT_TIMINGS, DEFAULT_NATT_DISCOVERY_PORT, type DecisionChange, type DecisionSource, type NatState,
  type NatTimings, NATT_DISCOVERY_PORT_KEY, type ProbeKind, RemoteNatProbe, remoteDiscoveryPort,
} from './remote.js';
import { type Clock, type NatTransport, type UdpPeer, UdpTransport, systemClock } from './transport.js';

export interface NatDiscoveryOptions {
  localEndpoint: EndpointSpec;
  /** Listening port; default: the local endpoint's `natt-discovery-port`, else 4490. 0 = any free port. */
  port?: number;
  /** Default 0.0.0.0. */
  bindAddress?: string;
  log: Logger;
  clock?: Clock;
  timings?: Partial<NatTimings>;
  transport?: NatTransport;
}

export interface NatRemoteStatus {
  cableName: string;
  clusterId: string;
  state: NatState;
  decision?: NatInfo;
  source?: DecisionSource;
  lastProblem?: string;
}

export interface NatDiscoveryCounters {
  requestsAnswered: number;
  requestsSent: number;
  responsesAccepted: number;
  dropped: number;
  sendErrors: number;
}

export interface NatDiscoveryEvents {
  decided: [cableName: string, info: NatInfo, source: DecisionSource];
}

interface PendingRequest {
  cableName: string;
  kind: ProbeKind;
  ip: string;
  sentAt: number;
  probe: RemoteNatProbe;
  form: EndpointIdForm;
}

interface TrackedRemote {
  key: string;
  probe: RemoteNatProbe;
  /**
   * The endpoint-id form we address this remote with: Submariner since 2025-02 first, switched on
   * UNKNOWN_DST_ENDPOINT (a 0.19 responder), and back again if that form is refused as well.
   */
  form: EndpointIdForm;
  /** Forms this remote refused with UNKNOWN_DST_ENDPOINT (both refused: it is another endpoint). */
  refused: Set<EndpointIdForm>;
}

function endpointKey(e: EndpointSpec): string {
  return JSON.stringify([e.clusterId, e.privateIP, e.publicIP, e.natEnabled, e.backendConfig[NATT_DISCOVERY_PORT_KEY] ?? '', e.backendConfig['using-loadbalancer'] ?? '']);
}

export class NatDiscovery extends EventEmitter<NatDiscoveryEvents> {
  private local: EndpointSpec;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly timings: NatTimings;
  private readonly transport: NatTransport;
  private readonly wantPort: number;
  private readonly bindAddress: string;
  private boundPort = 0;
  private readonly remotes = new Map<string, TrackedRemote>();
  private readonly pending = new Map<bigint, PendingRequest>();
  private nextRequest: bigint;
  private timer: unknown;
  private running = false;
  readonly counters: NatDiscoveryCounters = { requestsAnswered: 0, requestsSent: 0, responsesAccepted: 0, dropped: 0, sendErrors: 0 };

  constructor(opts: NatDiscoveryOptions) {
    super();
    this.local = opts.localEndpoint;
    this.log = opts.log.child({ component: 'natdiscovery' });
    this.clock = opts.clock ?? systemClock;
    this.timings = { ...DEFAULT_NAT_TIMINGS, ...opts.timings };
    this.transport = opts.transport ?? new UdpTransport();
    this.wantPort = opts.port ?? remoteDiscoveryPort(opts.localEndpoint) ?? DEFAULT_NATT_DISCOVERY_PORT;
    this.bindAddress = opts.bindAddress ?? '0.0.0.0';
    // Random start, as Submariner does, so answers to a previous run's requests are not mistaken for ours.
    this.nextRequest = randomBytes(8).readBigUInt64BE();
  }

  /** The bound UDP port (after start). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.transport.onMessage((data, from) => this.onDatagram(data, from));
    this.boundPort = await this.transport.bind(this.wantPort, this.bindAddress);
    this.running = true;
    const tickMs = Math.max(5, Math.min(this.timings.probeIntervalMs, this.timings.privateGraceMs) / 4);
    this.timer = this.clock.setInterval(() => this.tick(), tickMs);
    this.log.info({ port: this.boundPort, address: this.bindAddress }, 'NAT discovery listening');
    this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.running = false;
    this.pending.clear();
    await this.transport.close();
  }

  /** Our identity in answers changed (e.g. the public IP was resolved again). */
  setLocalEndpoint(ep: EndpointSpec): void {
    this.local = ep;
  }

  /**
   * Starts (or keeps) discovery for a remote endpoint. Re-adding an unchanged endpoint keeps its state;
   * a changed address, NAT flag or port starts over.
   */
  addRemote(ep: EndpointSpec): void {
    const key = endpointKey(ep);
    const existing = this.remotes.get(ep.cableName);
    if (existing && existing.key === key) return;
    const probe = new RemoteNatProbe(ep, this.timings, this.clock.now(), remoteDiscoveryPort(ep) !== undefined);
    this.remotes.set(ep.cableName, { key, probe, form: 'family', refused: new Set() });
    const log = this.log.child({ cable: ep.cableName, cluster: ep.clusterId });
    if (probe.decision && probe.source) {
      log.info({ useIP: probe.decision.useIP, useNAT: probe.decision.useNAT }, 'remote endpoint has no NAT discovery port: using its NAT flags');
      const info = probe.decision;
      const source = probe.source;
      queueMicrotask(() => {
        if (this.remotes.get(ep.cableName)?.probe === probe) this.emit('decided', ep.cableName, info, source);
      });
      return;
    }
    log.info({ privateIP: ep.privateIP, publicIP: ep.publicIP }, existing ? 'remote endpoint changed: NAT discovery starts over' : 'NAT discovery started');
    if (this.running) this.probe(probe);
  }

  removeRemote(cableName: string): void {
    const r = this.remotes.get(cableName);
    if (!r) return;
    this.remotes.delete(cableName);
    for (const [id, p] of this.pending) if (p.probe === r.probe) this.pending.delete(id);
  }

  /** Level-triggered form: discovery runs for exactly these endpoints (others are removed). */
  setRemotes(eps: readonly EndpointSpec[]): void {
    const keep = new Set(eps.map((e) => e.cableName));
    for (const name of [...this.remotes.keys()]) if (!keep.has(name)) this.removeRemote(name);
    for (const e of eps) this.addRemote(e);
  }

  decision(cableName: string): NatInfo | undefined {
    const d = this.remotes.get(cableName)?.probe.decision;
    return d ? { ...d } : undefined;
  }

  status(): NatRemoteStatus[] {
    return [...this.remotes.values()].map(({ probe }) => ({
      cableName: probe.remote.cableName,
      clusterId: probe.remote.clusterId,
      state: probe.state,
      decision: probe.decision ? { ...probe.decision } : undefined,
      source: probe.source,
      lastProblem: probe.lastProblem,
    }));
  }

  private tick(): void {
    const now = this.clock.now();
    for (const [id, p] of this.pending) if (now - p.sentAt > this.timings.requestTtlMs) this.pending.delete(id);
    for (const { probe } of this.remotes.values()) {
      this.report(probe, probe.tick(now));
      this.probe(probe);
    }
  }

  private probe(probe: RemoteNatProbe): void {
    const port = remoteDiscoveryPort(probe.remote);
    if (port === undefined) return;
    for (const target of probe.probesDue(this.clock.now())) void this.sendRequest(probe, target.kind, target.ip, port);
  }

  private async sendRequest(probe: RemoteNatProbe, kind: ProbeKind, ip: string, port: number): Promise<void> {
    const remote = probe.remote;
    try {
      const src = (await this.transport.sourceIPFor(ip)) ?? '';
      const tracked = this.remotes.get(remote.cableName);
      if (!this.running || tracked?.probe !== probe) return;
      const requestNumber = this.nextRequest;
      this.nextRequest = BigInt.asUintN(64, this.nextRequest + 1n);
      const { form } = tracked;
      this.pending.set(requestNumber, { cableName: remote.cableName, kind, ip, sentAt: this.clock.now(), probe, form });
      // Both ids in the same form: a 2025+ Submariner keys its remotes by the family form, 0.19 by the plain one.
      const data = encodeRequestMessage({
        requestNumber,
        sender: { clusterId: this.local.clusterId, endpointId: endpointId(this.local.cableName, form) },
        receiver: { clusterId: remote.clusterId, endpointId: endpointId(remote.cableName, form) },
        usingSrc: { ip: src, port: this.boundPort },
        usingDst: { ip, port },
      });
      this.log.debug({ cable: remote.cableName, target: `${ip}:${port}`, kind, idForm: form, requestNumber: requestNumber.toString(16) }, 'NAT discovery request');
      await this.transport.send(data, { ip, port });
      this.counters.requestsSent++;
    } catch (err) {
      this.counters.sendErrors++;
      this.problem(probe, `cannot send to its ${kind} IP ${ip}:${port}: ${errorMessage(err)}`, 'debug');
    }
  }

  private onDatagram(data: Uint8Array, from: UdpPeer): void {
    try {
      const decoded = decodeMessage(data);
      if (!decoded.ok) return this.drop(from, `malformed datagram: ${decoded.error}`);
      const msg = decoded.value;
      if (msg.kind === 'request') {
        const answer = answerRequest(msg.request, from, { clusterId: this.local.clusterId, cableName: this.local.cableName, privateIP: this.local.privateIP });
        if (answer.response !== ResponseType.OK && answer.response !== ResponseType.NAT_DETECTED) {
          this.log.debug({ from: `${from.ip}:${from.port}`, response: responseTypeName(answer.response), receiver: msg.request.receiver }, 'NAT discovery request not for us');
        }
        this.transport.send(encodeResponseMessage(answer), from).then(
          () => void this.counters.requestsAnswered++,
          (err: unknown) => {
            this.counters.sendErrors++;
            this.log.debug({ from: `${from.ip}:${from.port}`, err }, 'cannot answer NAT discovery request');
          },
        );
      } else if (msg.kind === 'response') {
        this.onResponse(msg.response, from);
      } else {
        this.drop(from, 'message with neither request nor response');
      }
    } catch (err) {
      this.drop(from, `handler failed: ${errorMessage(err)}`);
    }
  }

  private onResponse(resp: NatResponse, from: UdpPeer): void {
    if (!resp.sender || !resp.receiver || !resp.receivedSrc) return this.drop(from, 'response without sender, receiver or received_src');
    const pending = this.pending.get(resp.requestNumber);
    if (!pending) return this.drop(from, `response to unknown or expired request 0x${resp.requestNumber.toString(16)}`);
    const entry = this.remotes.get(pending.cableName);
    if (!entry || entry.probe !== pending.probe) return this.drop(from, 'response for a remote no longer tracked');
    const { probe } = entry;
    if (resp.response === ResponseType.UNKNOWN_DST_ENDPOINT) {
      this.pending.delete(resp.requestNumber);
      return this.onRefusedId(entry, pending, resp);
    }
    if (resp.response !== ResponseType.OK && resp.response !== ResponseType.NAT_DETECTED) {
      this.pending.delete(resp.requestNumber);
      return this.problem(probe, `its ${pending.kind} IP ${pending.ip} answered ${responseTypeName(resp.response)} (it is endpoint ${JSON.stringify(resp.sender.endpointId)} of cluster ${JSON.stringify(resp.sender.clusterId)})`, 'warn');
    }
    if (endpointIdForm(resp.sender.endpointId, probe.remote.cableName) === undefined) {
      return this.problem(probe, `its ${pending.kind} IP ${pending.ip} is answered by endpoint ${JSON.stringify(resp.sender.endpointId)}`, 'warn');
    }
    entry.refused.delete(pending.form);
    // NAT on private IPs is unlikely; an answer for the private IP from elsewhere is refused (as Submariner does).
    if (pending.kind === 'private' && from.ip !== pending.ip) {
      return this.problem(probe, `answer for its private IP ${pending.ip} came from ${from.ip}`, 'warn');
    }
    this.pending.delete(resp.requestNumber);
    this.counters.responsesAccepted++;
    this.report(probe, probe.onAnswer(pending.kind, resp.response === ResponseType.NAT_DETECTED, this.clock.now()));
  }

  /**
   * UNKNOWN_DST_ENDPOINT: the remote does not know us under the id form we used. Submariner 0.19 wants the
   * plain cable name, Submariner since 2025-02 `<cable>-v4`: try the other form at once. If both forms are
   * refused, the address belongs to some other endpoint (e.g. a port forwarded to the wrong gateway).
   */
  private onRefusedId(entry: TrackedRemote, pending: PendingRequest, resp: NatResponse): void {
    const { probe } = entry;
    entry.refused.add(pending.form);
    if (entry.form !== pending.form) return; // already switched by an earlier refusal
    entry.form = pending.form === 'family' ? 'plain' : 'family';
    if (entry.refused.size >= 2) {
      // Keep alternating at the normal probe pace: whichever generation answers there later is found.
      const who = `endpoint ${JSON.stringify(resp.sender?.endpointId ?? '')} of cluster ${JSON.stringify(resp.sender?.clusterId ?? '')}`;
      return this.problem(probe, `its ${pending.kind} IP ${pending.ip} answered UNKNOWN_DST_ENDPOINT to both the plain and the -v4 endpoint id (it is ${who})`, 'warn');
    }
    this.log.info({ cable: probe.remote.cableName, cluster: probe.remote.clusterId, idForm: entry.form, answeredBy: resp.sender?.endpointId },
      entry.form === 'plain'
        ? 'NAT discovery: remote refused the <cable>-v4 endpoint id (Submariner before 2025-02, e.g. 0.19): using the plain cable name'
        : 'NAT discovery: remote refused the plain cable name (Submariner since 2025-02): using <cable>-v4');
    probe.probeNow();
    if (this.running) this.probe(probe);
  }

  private report(probe: RemoteNatProbe, change: DecisionChange | undefined): void {
    if (!change) return;
    const { cableName, clusterId } = probe.remote;
    this.log.info({ cable: cableName, cluster: clusterId, useIP: change.info.useIP, useNAT: change.info.useNAT, source: change.source }, 'NAT discovery decided');
    this.emit('decided', cableName, { ...change.info }, change.source);
  }

  private problem(probe: RemoteNatProbe, what: string, level: 'warn' | 'debug'): void {
    if (probe.lastProblem === what) return;
    probe.lastProblem = what;
    this.log[level]({ cable: probe.remote.cableName, cluster: probe.remote.clusterId }, `NAT discovery: remote endpoint ${what}`);
  }

  private drop(from: UdpPeer, why: string): void {
    this.counters.dropped++;
    this.log.debug({ from: `${from.ip}:${from.port}` }, `NAT discovery datagram dropped: ${why}`);
  }
}
