// A NAT discovery peer that behaves like Submariner's gateway (pkg/natdiscovery: request_send.go,
// request_handle.go, response_handle.go), built only from Submariner's natdiscovery.proto loaded with
// protobufjs: nothing of hawser's codec is used, so a disagreement on the wire shows up here.
//
// `version` picks the endpoint-id form: '0.19' uses the plain cable name; '2025' uses GetFamilyCableName
// (`<cable>-v4`, since commit 32d6c949 of 2025-02-26) for its own id, for the receiver id it sends, for the
// receiver id it accepts and as the key of its remote table (which answers are looked up by).
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import protobuf from 'protobufjs';

const PROTO = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/natdiscovery.proto');

export type SubmarinerVersion = '0.19' | '2025';

export interface PeerEndpoint {
  clusterId: string;
  cableName: string;
  privateIP: string;
  publicIP: string;
  nattDiscoveryPort: number;
}

interface Pair { IP: string; port: number }
interface Details { cluster_id: string; endpoint_id: string }
interface Request { request_number: string; sender?: Details; receiver?: Details; using_src?: Pair; using_dst?: Pair }
interface Response {
  request_number: string; response: number; sender?: Details; receiver?: Details;
  src_ip_nat_detected: boolean; src_port_nat_detected: boolean; dst_ip_nat_detected: boolean; received_src?: Pair;
}

const OK = 0;
const NAT_DETECTED = 1;
const UNKNOWN_DST_CLUSTER = 2;
const UNKNOWN_DST_ENDPOINT = 3;
const MALFORMED = 4;

// ---- validation of what protobufjs hands back (plain objects; we check the shapes we read) ----
function rec(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const bool = (v: unknown): boolean => v === true;
function details(v: unknown): Details | undefined {
  const r = rec(v);
  return r ? { cluster_id: str(r.cluster_id), endpoint_id: str(r.endpoint_id) } : undefined;
}
function pair(v: unknown): Pair | undefined {
  const r = rec(v);
  return r ? { IP: str(r.IP), port: num(r.port) } : undefined;
}

interface RemoteNAT {
  endpoint: PeerEndpoint;
  lastPublicIPRequestID?: string;
  lastPrivateIPRequestID?: string;
  decided?: { useIP: string; useNAT: boolean };
}

export class SubmarinerNatPeer {
  // keepCase: field names exactly as in the .proto (request_number, using_src, IP, ...).
  private readonly root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
  private readonly Message = this.root.lookupType('SubmarinerNATDiscoveryMessage');
  private socket: Socket | undefined;
  private requestCounter = BigInt(Math.floor(Math.random() * 1e9));
  private readonly remotes = new Map<string, RemoteNAT>();
  private timer: NodeJS.Timeout | undefined;
  /** Receiver ids of the requests we were sent, in order. */
  readonly askedAs: string[] = [];
  /** What Submariner would log as errors from handleResponseFromAddress. */
  readonly errors: string[] = [];
  port = 0;

  constructor(readonly version: SubmarinerVersion, readonly local: Omit<PeerEndpoint, 'nattDiscoveryPort'>, private readonly bindIP: string) {}

  /** GetFamilyCableName (2025) or the plain cable name (0.19). */
  idOf(cableName: string): string {
    return this.version === '2025' ? `${cableName}-v4` : cableName;
  }

  /** Binds `port` (0: any) on the bind IP; re-sends unanswered requests every `recheckMs` (Submariner: 2 s). */
  async start(recheckMs: number, port = 0): Promise<void> {
    const s = createSocket('udp4');
    this.socket = s;
    s.on('message', (buf, rinfo) => this.onMessage(buf, { IP: rinfo.address, port: rinfo.port }));
    await new Promise<void>((ok, fail) => {
      s.once('error', fail);
      s.bind(port, this.bindIP, () => ok());
    });
    this.port = s.address().port;
    this.timer = setInterval(() => this.checkDiscovery(), recheckMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((ok) => s.close(() => ok()));
  }

  /** AddEndpoint: discovery starts with the next check. */
  addEndpoint(ep: PeerEndpoint): void {
    this.remotes.set(this.idOf(ep.cableName), { endpoint: ep });
    this.checkDiscovery();
  }

  decision(cableName: string): { useIP: string; useNAT: boolean } | undefined {
    return this.remotes.get(this.idOf(cableName))?.decided;
  }

  private checkDiscovery(): void {
    for (const r of this.remotes.values()) if (!r.decided) this.sendCheckRequest(r);
  }

  private sendCheckRequest(r: RemoteNAT): void {
    if (r.endpoint.privateIP) r.lastPrivateIPRequestID = this.sendRequestTo(r, r.endpoint.privateIP);
    if (r.endpoint.publicIP) r.lastPublicIPRequestID = this.sendRequestTo(r, r.endpoint.publicIP);
  }

  private sendRequestTo(r: RemoteNAT, targetIP: string): string {
    this.requestCounter++;
    const request: Request = {
      request_number: this.requestCounter.toString(),
      sender: { cluster_id: this.local.clusterId, endpoint_id: this.idOf(this.local.cableName) },
      receiver: { cluster_id: r.endpoint.clusterId, endpoint_id: this.idOf(r.endpoint.cableName) },
      using_src: { IP: this.bindIP, port: this.port },
      using_dst: { IP: targetIP, port: r.endpoint.nattDiscoveryPort },
    };
    this.send({ version: 1, request }, { IP: targetIP, port: r.endpoint.nattDiscoveryPort });
    return request.request_number;
  }

  private send(msg: Record<string, unknown>, to: Pair): void {
    // fromObject converts the decimal-string uint64s and checks every field against the schema.
    const buf = this.Message.encode(this.Message.fromObject(msg)).finish();
    this.socket?.send(buf, to.port, to.IP);
  }

  private onMessage(buf: Buffer, from: Pair): void {
    let obj: Record<string, unknown>;
    try {
      obj = this.Message.toObject(this.Message.decode(buf), { longs: String, enums: Number, defaults: false, oneofs: true }) as Record<string, unknown>;
    } catch (e) {
      this.errors.push(`cannot unmarshal: ${String(e)}`);
      return;
    }
    const req = rec(obj.request);
    const resp = rec(obj.response);
    if (req) {
      this.handleRequest({
        request_number: str(req.request_number), sender: details(req.sender), receiver: details(req.receiver),
        using_src: pair(req.using_src), using_dst: pair(req.using_dst),
      }, from);
    } else if (resp) {
      this.handleResponse({
        request_number: str(resp.request_number), response: num(resp.response), sender: details(resp.sender), receiver: details(resp.receiver),
        src_ip_nat_detected: bool(resp.src_ip_nat_detected), src_port_nat_detected: bool(resp.src_port_nat_detected),
        dst_ip_nat_detected: bool(resp.dst_ip_nat_detected), received_src: pair(resp.received_src),
      }, from);
    }
  }

  /** handleRequestFromAddress. */
  private handleRequest(req: Request, addr: Pair): void {
    this.askedAs.push(req.receiver?.endpoint_id ?? '');
    const response: Response = {
      request_number: req.request_number,
      response: OK,
      sender: { cluster_id: this.local.clusterId, endpoint_id: this.idOf(this.local.cableName) },
      receiver: req.sender,
      src_ip_nat_detected: false, src_port_nat_detected: false, dst_ip_nat_detected: false,
      received_src: { IP: addr.IP, port: addr.port },
    };
    if (!req.receiver || !req.sender || !req.using_dst || !req.using_src) response.response = MALFORMED;
    else if (req.receiver.cluster_id !== this.local.clusterId) response.response = UNKNOWN_DST_CLUSTER;
    else if (req.receiver.endpoint_id !== this.idOf(this.local.cableName)) response.response = UNKNOWN_DST_ENDPOINT;
    else {
      response.src_ip_nat_detected = req.using_src.IP !== '' && req.using_src.IP !== addr.IP;
      response.src_port_nat_detected = req.using_src.port !== addr.port;
      response.dst_ip_nat_detected = req.using_dst.IP !== this.local.privateIP;
      if (response.src_ip_nat_detected || response.src_port_nat_detected || response.dst_ip_nat_detected) response.response = NAT_DETECTED;
    }
    this.send({ response }, addr);
  }

  /** handleResponseFromAddress (public/private request ids; the private answer must come from the private IP). */
  private handleResponse(resp: Response, addr: Pair): void {
    if (!resp.sender || !resp.receiver || !resp.received_src) return void this.errors.push('received malformed response');
    if (resp.response !== OK && resp.response !== NAT_DETECTED) {
      return void this.errors.push(`remote endpoint ${JSON.stringify(resp.sender.endpoint_id)} responded with ${resp.response}`);
    }
    const r = this.remotes.get(resp.sender.endpoint_id);
    if (!r) return void this.errors.push(`received response from unknown endpoint ${JSON.stringify(resp.sender.endpoint_id)}`);
    const useNAT = resp.response === NAT_DETECTED;
    if (r.lastPublicIPRequestID === resp.request_number) {
      r.decided ??= { useIP: r.endpoint.publicIP, useNAT };
      return;
    }
    if (r.lastPrivateIPRequestID === resp.request_number) {
      if (addr.IP !== r.endpoint.privateIP) return void this.errors.push(`private answer from ${addr.IP}`);
      r.decided = { useIP: r.endpoint.privateIP, useNAT };
      return;
    }
    this.errors.push(`received response for unknown request id ${resp.request_number}`);
  }
}
