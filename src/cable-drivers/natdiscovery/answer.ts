// The server side of NAT discovery, as a pure function: what we answer to a request that arrived from
// `from`. NAT is detected by comparing what the sender says it used with what we see:
// - src IP/port: the sender's address as it left its host vs. the datagram's source here;
// - dst IP: the address the sender aimed at vs. our private IP (we listen on the wildcard address and
//   cannot see the address a datagram arrived on, so, like Submariner, any other target means DNAT).
import { type NatRequest, type NatResponse, ResponseType } from './messages.js';

export interface LocalIdentity {
  clusterId: string;
  /** Our Endpoint's cable name: the protocol's endpoint ID. */
  cableName: string;
  privateIP: string;
}

export interface UdpSource {
  ip: string;
  port: number;
}

export function answerRequest(req: NatRequest, from: UdpSource, local: LocalIdentity): NatResponse {
  const response: NatResponse = {
    requestNumber: req.requestNumber,
    response: ResponseType.OK,
    sender: { clusterId: local.clusterId, endpointId: local.cableName },
    receiver: req.sender,
    srcIpNatDetected: false,
    srcPortNatDetected: false,
    dstIpNatDetected: false,
    receivedSrc: { ip: from.ip, port: from.port },
  };
  if (!req.sender || !req.receiver || !req.usingSrc || !req.usingDst) return { ...response, response: ResponseType.MALFORMED };
  if (req.receiver.clusterId !== local.clusterId) return { ...response, response: ResponseType.UNKNOWN_DST_CLUSTER };
  if (req.receiver.endpointId !== local.cableName) return { ...response, response: ResponseType.UNKNOWN_DST_ENDPOINT };
  response.srcIpNatDetected = req.usingSrc.ip !== '' && req.usingSrc.ip !== from.ip;
  response.srcPortNatDetected = req.usingSrc.port !== from.port;
  response.dstIpNatDetected = req.usingDst.ip !== local.privateIP;
  if (response.srcIpNatDetected || response.srcPortNatDetected || response.dstIpNatDetected) {
    response.response = ResponseType.NAT_DETECTED;
  }
  return response;
}
