// Submariner's NAT discovery messages (pkg/natdiscovery/proto, proto3, version 1), typed, with an
// encoder and a decoder that reports malformed input as a value instead of throwing.
//
//   SubmarinerNATDiscoveryMessage { int32 version = 1; oneof { Request request = 2; Response response = 3; } }
//   Request  { uint64 request_number = 1; EndpointDetails sender = 2, receiver = 3; IPPortPair using_src = 4, using_dst = 5; }
//   Response { uint64 request_number = 1; ResponseType response = 2; EndpointDetails sender = 3, receiver = 4;
//              bool src_ip_nat_detected = 5, src_port_nat_detected = 6, dst_ip_nat_detected = 7; IPPortPair received_src = 8; }
//   IPPortPair { string IP = 1; uint32 port = 2; }   EndpointDetails { string cluster_id = 1; string endpoint_id = 2; }
//
// Sub-messages keep presence (undefined = absent), since the protocol treats a missing sender as malformed.
// A repeated sub-message field keeps the last occurrence (proto merges them; no sender does that).
import { ProtoDecodeError, ProtoReader, ProtoWriter, WIRE_LEN, WIRE_VARINT, asBool, asInt32, asUint32 } from './protobuf.js';

export const NAT_DISCOVERY_VERSION = 1;
/** Submariner reads datagrams into a 2048-byte buffer; anything longer is not one of ours. */
export const MAX_DATAGRAM_BYTES = 2048;

export const ResponseType = {
  OK: 0,
  NAT_DETECTED: 1,
  UNKNOWN_DST_CLUSTER: 2,
  UNKNOWN_DST_ENDPOINT: 3,
  MALFORMED: 4,
} as const;
/** proto3 enums are open: unknown numbers are kept as numbers. */
export type ResponseTypeValue = number;

export function responseTypeName(v: ResponseTypeValue): string {
  const hit = Object.entries(ResponseType).find(([, n]) => n === v);
  return hit ? hit[0] : String(v);
}

export interface IPPortPair {
  ip: string;
  port: number;
}

export interface EndpointDetails {
  clusterId: string;
  endpointId: string;
}

export interface NatRequest {
  requestNumber: bigint;
  sender?: EndpointDetails;
  receiver?: EndpointDetails;
  usingSrc?: IPPortPair;
  usingDst?: IPPortPair;
}

export interface NatResponse {
  requestNumber: bigint;
  response: ResponseTypeValue;
  sender?: EndpointDetails;
  receiver?: EndpointDetails;
  srcIpNatDetected: boolean;
  srcPortNatDetected: boolean;
  dstIpNatDetected: boolean;
  receivedSrc?: IPPortPair;
}

export type NatMessage =
  | { version: number; kind: 'request'; request: NatRequest }
  | { version: number; kind: 'response'; response: NatResponse }
  | { version: number; kind: 'empty' };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

// ---- encoding ----

function encodePair(p: IPPortPair): Uint8Array {
  return new ProtoWriter().string(1, p.ip).varint(2, p.port).finish();
}

function encodeDetails(d: EndpointDetails): Uint8Array {
  return new ProtoWriter().string(1, d.clusterId).string(2, d.endpointId).finish();
}

function encodeRequest(r: NatRequest): Uint8Array {
  const w = new ProtoWriter().varint(1, r.requestNumber);
  if (r.sender) w.bytes(2, encodeDetails(r.sender));
  if (r.receiver) w.bytes(3, encodeDetails(r.receiver));
  if (r.usingSrc) w.bytes(4, encodePair(r.usingSrc));
  if (r.usingDst) w.bytes(5, encodePair(r.usingDst));
  return w.finish();
}

function encodeResponse(r: NatResponse): Uint8Array {
  const w = new ProtoWriter().varint(1, r.requestNumber).varint(2, r.response);
  if (r.sender) w.bytes(3, encodeDetails(r.sender));
  if (r.receiver) w.bytes(4, encodeDetails(r.receiver));
  w.varint(5, r.srcIpNatDetected).varint(6, r.srcPortNatDetected).varint(7, r.dstIpNatDetected);
  if (r.receivedSrc) w.bytes(8, encodePair(r.receivedSrc));
  return w.finish();
}

export function encodeMessage(m: NatMessage): Uint8Array {
  const w = new ProtoWriter().varint(1, m.version);
  if (m.kind === 'request') w.bytes(2, encodeRequest(m.request));
  else if (m.kind === 'response') w.bytes(3, encodeResponse(m.response));
  return w.finish();
}

export function encodeRequestMessage(request: NatRequest): Uint8Array {
  return encodeMessage({ version: NAT_DISCOVERY_VERSION, kind: 'request', request });
}

export function encodeResponseMessage(response: NatResponse): Uint8Array {
  return encodeMessage({ version: NAT_DISCOVERY_VERSION, kind: 'response', response });
}

// ---- decoding ----
// Each reader loops over fields; a known field with an unexpected wire type is skipped like an unknown
// one (as Go's protobuf runtime does), anything structurally broken throws ProtoDecodeError.

function decodePair(r: ProtoReader): IPPortPair {
  const p: IPPortPair = { ip: '', port: 0 };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WIRE_LEN) p.ip = r.string();
    else if (field === 2 && wire === WIRE_VARINT) p.port = asUint32(r.varint());
    else r.skip(wire);
  }
  return p;
}

function decodeDetails(r: ProtoReader): EndpointDetails {
  const d: EndpointDetails = { clusterId: '', endpointId: '' };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WIRE_LEN) d.clusterId = r.string();
    else if (field === 2 && wire === WIRE_LEN) d.endpointId = r.string();
    else r.skip(wire);
  }
  return d;
}

function decodeRequest(r: ProtoReader): NatRequest {
  const q: NatRequest = { requestNumber: 0n };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WIRE_VARINT) q.requestNumber = r.varint();
    else if (field === 2 && wire === WIRE_LEN) q.sender = decodeDetails(r.nested());
    else if (field === 3 && wire === WIRE_LEN) q.receiver = decodeDetails(r.nested());
    else if (field === 4 && wire === WIRE_LEN) q.usingSrc = decodePair(r.nested());
    else if (field === 5 && wire === WIRE_LEN) q.usingDst = decodePair(r.nested());
    else r.skip(wire);
  }
  return q;
}

function decodeResponse(r: ProtoReader): NatResponse {
  const s: NatResponse = {
    requestNumber: 0n, response: ResponseType.OK, srcIpNatDetected: false, srcPortNatDetected: false, dstIpNatDetected: false,
  };
  while (!r.done) {
    const { field, wire } = r.key();
    if (wire === WIRE_VARINT && field >= 1 && field <= 7 && field !== 3 && field !== 4) {
      const v = r.varint();
      if (field === 1) s.requestNumber = v;
      else if (field === 2) s.response = asInt32(v);
      else if (field === 5) s.srcIpNatDetected = asBool(v);
      else if (field === 6) s.srcPortNatDetected = asBool(v);
      else s.dstIpNatDetected = asBool(v);
    } else if (field === 3 && wire === WIRE_LEN) s.sender = decodeDetails(r.nested());
    else if (field === 4 && wire === WIRE_LEN) s.receiver = decodeDetails(r.nested());
    else if (field === 8 && wire === WIRE_LEN) s.receivedSrc = decodePair(r.nested());
    else r.skip(wire);
  }
  return s;
}

/** Decodes one datagram. Never throws: malformed input gives `{ok: false, error}`. */
export function decodeMessage(buf: Uint8Array): Decoded<NatMessage> {
  if (buf.length > MAX_DATAGRAM_BYTES) return { ok: false, error: `datagram of ${buf.length} bytes exceeds ${MAX_DATAGRAM_BYTES}` };
  try {
    const r = new ProtoReader(buf);
    let version = 0;
    let body: { kind: 'request'; request: NatRequest } | { kind: 'response'; response: NatResponse } | undefined;
    while (!r.done) {
      const { field, wire } = r.key();
      if (field === 1 && wire === WIRE_VARINT) version = asInt32(r.varint());
      else if (field === 2 && wire === WIRE_LEN) body = { kind: 'request', request: decodeRequest(r.nested()) };
      else if (field === 3 && wire === WIRE_LEN) body = { kind: 'response', response: decodeResponse(r.nested()) };
      else r.skip(wire);
    }
    return { ok: true, value: body ? { version, ...body } : { version, kind: 'empty' } };
  } catch (err) {
    if (err instanceof ProtoDecodeError) return { ok: false, error: err.message };
    return { ok: false, error: `unexpected decoder failure: ${String(err)}` };
  }
}
