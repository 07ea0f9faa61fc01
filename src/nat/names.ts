// Object names Globalnet derives, spelled as Submariner spells them so either can take over from the other.
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with padding (Go's base32.StdEncoding). */
export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** The internal Service that carries a ClusterIP export's global IP as an externalIP: `submariner-<hash>`. */
export function internalServiceName(exportedService: string): string {
  const hash = createHash('sha256').update(exportedService).digest();
  return `submariner-${base32(hash).slice(0, 32)}`.toLowerCase();
}

/** GlobalIngressIP of a headless Service's pod: `pod-<pod name, 59 chars>`. */
export function podIngressName(podName: string): string {
  return `pod-${[...podName].slice(0, 59).join('')}`;
}

/** GlobalIngressIP of an Endpoints address of a selector-less headless Service. */
export function endpointsIngressName(serviceName: string, ip: string): string {
  return `ep-${[...serviceName].slice(0, 44).join('')}-${ip.slice(0, 15)}`;
}
