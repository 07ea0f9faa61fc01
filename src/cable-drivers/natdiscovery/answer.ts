// The server side of NAT discovery, as a pure function: what we answer to a request that arrived from
// `from`. NAT is detected by comparing what the sender says it used with what we see:
// - src IP/port: the sender's address as it left its host vs. the datagram's source here;
// - dst IP: the address the sender aimed at vs. our private IP (we listen on the wildcard address and
//   cannot see the address a datagram arrived on, so, like Submariner, any other target means DNAT).
import { type NatRequest, type NatResponse, ResponseType } from './messages.js';

export interface LocalIdentity {
  clusterId: string;
  /** Our Endpoint's cable name: the protocol's endpoint ID (plain or with a family suffix, see below). */
  cableName: string;
  privateIP: string;
}

export interface UdpSource {
  ip: string;
  port: number;
}

/**
 * The two forms of the protocol's `endpoint_id`:
 * - `plain`: the cable name, as Submariner sent and expected up to 0.19 (before 2025-02);
 * - `family`: `<cable name>-v4` (`-v6` on the IPv6 listener), Submariner's `GetFamilyCableName` since commit
 *   32d6c949 (2025-02-26, "Update nat discovery to support IP family"); such a responder answers
 *   UNKNOWN_DST_ENDPOINT to the plain form, and a 0.19 responder answers UNKNOWN_DST_ENDPOINT to this one.
 * hawser listens on IPv4 only, so its family form is always `-v4`.
 */
export type EndpointIdForm = 'family' | 'plain';

export const IPV4_ID_SUFFIX = '-v4';

export function endpointId(cableName: string, form: EndpointIdForm): string {
  return form === 'family' ? cableName + IPV4_ID_SUFFIX : cableName;
}

/** Which form `id` is of this cable name's ids, or undefined when it names another endpoint. */
export function endpointIdForm(id: string, cableName: string): EndpointIdForm | undefined {
  if (id === cableName) return 'plain';
  if (id === cableName + IPV4_ID_SUFFIX) return 'family';
  return undefined;
}

export function answerRequest(req: NatRequest, from: UdpSource, local: LocalIdentity): NatResponse {
  // We answer as whichever form we were asked for, so both Submariner generations find us under the id they
  // keyed us by (they look the answer's sender id up in their table of remote endpoints).
  const asked = req.receiver ? endpointIdForm(req.receiver.endpointId, local.cableName) : undefined;
  const response: NatResponse = {
    requestNumber: req.requestNumber,
    response: ResponseType.OK,
    sender: { clusterId: local.clusterId, endpointId: endpointId(local.cableName, asked ?? 'plain') },
    receiver: req.sender,
    srcIpNatDetected: false,
    srcPortNatDetected: false,
    dstIpNatDetected: false,
    receivedSrc: { ip: from.ip, port: from.port },
  };
  if (!req.sender || !req.receiver || !req.usingSrc || !req.usingDst) return { ...response, response: ResponseType.MALFORMED };
  if (req.receiver.clusterId !== local.clusterId) return { ...response, response: ResponseType.UNKNOWN_DST_CLUSTER };
  // `-v6` is refused too: hawser has no IPv6 listener or address to speak for.
  if (asked === undefined) return { ...response, response: ResponseType.UNKNOWN_DST_ENDPOINT };
  response.srcIpNatDetected = req.usingSrc.ip !== '' && req.usingSrc.ip !== from.ip;
  response.srcPortNatDetected = req.usingSrc.port !== from.port;
  response.dstIpNatDetected = req.usingDst.ip !== local.privateIP;
  if (response.srcIpNatDetected || response.srcPortNatDetected || response.dstIpNatDetected) {
    response.response = ResponseType.NAT_DETECTED;
  }
  return response;
}
