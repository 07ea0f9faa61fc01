// ICMPv4 echo packets as the health check's in-process prober writes and reads them (RFC 792), and the
// classic BPF program that keeps every other ICMP packet of the host out of its raw socket. Pure: no I/O.
//
// A raw IPv4 ICMP socket reads whole IP datagrams (header included) and receives a copy of every ICMP
// packet addressed to the host: other processes' ping replies, echo requests from remote health checks,
// errors. The filter passes only echo replies carrying our identifier and ICMP errors (destination
// unreachable, time exceeded) quoting an echo request with our identifier.

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

/** 8-byte ICMP header + 56 bytes of data: 64 bytes, as `ping` and `fping` send by default. */
export const ECHO_DATA_BYTES = 56;
export const ECHO_PACKET_BYTES = 8 + ECHO_DATA_BYTES;

/** The Internet checksum (RFC 1071) of `len` bytes of `buf` from `off`. */
export function internetChecksum(buf: Uint8Array, off = 0, len = buf.length - off): number {
  let sum = 0;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** ICMP "fragmentation needed" (destination unreachable, code 4): carries the next hop's MTU. */
export const ICMP_FRAG_NEEDED = 4;

/** A fresh echo request buffer with `dataBytes` of data (ping's -s); `setEchoSequence` stamps each probe into it. */
export function echoRequest(ident: number, seq: number, dataBytes = ECHO_DATA_BYTES): Buffer {
  const b = Buffer.alloc(8 + dataBytes);
  b[0] = ICMP_ECHO_REQUEST;
  b.writeUInt16BE(ident & 0xffff, 4);
  // recognisable data, like ping's incrementing bytes
  for (let i = 8; i < b.length; i++) b[i] = i & 0xff;
  setEchoSequence(b, seq);
  return b;
}

/** Rewrites the sequence number and checksum of an echo request made by `echoRequest`. */
export function setEchoSequence(b: Buffer, seq: number): void {
  b.writeUInt16BE(seq & 0xffff, 6);
  b[2] = 0;
  b[3] = 0;
  b.writeUInt16BE(internetChecksum(b, 0, b.length), 2);
}

export type IcmpInbound =
  | { kind: 'reply'; from: number; ident: number; seq: number }
  | { kind: 'error'; from: number; type: number; code: number; ident: number; seq: number; to: number; mtu?: number };

/**
 * One datagram read from a raw IPv4 ICMP socket (IP header first), or undefined when it is not an echo
 * reply or an error about an echo request (or is truncated or corrupt). Addresses are unsigned integers.
 */
export function decodeIcmpV4(buf: Uint8Array, off: number, len: number): IcmpInbound | undefined {
  if (len < 20 || buf[off]! >> 4 !== 4 || buf[off + 9] !== 1) return undefined;
  const ihl = (buf[off]! & 0x0f) * 4;
  if (ihl < 20 || len < ihl + 8) return undefined;
  const from = u32(buf, off + 12);
  const icmp = off + ihl;
  const type = buf[icmp]!;
  if (type === ICMP_ECHO_REPLY) {
    if (internetChecksum(buf, icmp, len - ihl) !== 0) return undefined;
    return { kind: 'reply', from, ident: u16(buf, icmp + 4), seq: u16(buf, icmp + 6) };
  }
  if (type !== ICMP_DEST_UNREACH && type !== ICMP_TIME_EXCEEDED) return undefined;
  // the quoted datagram: its IP header, then at least the 8 bytes of our echo request's header
  const inner = icmp + 8;
  if (len < inner - off + 20 || buf[inner]! >> 4 !== 4 || buf[inner + 9] !== 1) return undefined;
  const innerIhl = (buf[inner]! & 0x0f) * 4;
  const quoted = inner + innerIhl;
  if (innerIhl < 20 || len < quoted - off + 8 || buf[quoted] !== ICMP_ECHO_REQUEST) return undefined;
  const code = buf[icmp + 1]!;
  const out: IcmpInbound = { kind: 'error', from, type, code, ident: u16(buf, quoted + 4), seq: u16(buf, quoted + 6), to: u32(buf, inner + 16) };
  // RFC 1191: the next-hop MTU in the low 16 bits of the header's second word (0 from routers older than it)
  if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED && u16(buf, icmp + 6) > 0) out.mtu = u16(buf, icmp + 6);
  return out;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

/** What an ICMP error says, in the words ping and fping use. */
export function icmpErrorText(type: number, code: number): string {
  if (type === ICMP_TIME_EXCEEDED) return code === 0 ? 'ICMP Time Exceeded in transit' : 'ICMP Time Exceeded (fragment reassembly)';
  if (type !== ICMP_DEST_UNREACH) return `ICMP type ${type} code ${code}`;
  const texts: Record<number, string> = {
    0: 'ICMP Network Unreachable',
    1: 'ICMP Host Unreachable',
    2: 'ICMP Protocol Unreachable',
    3: 'ICMP Port Unreachable',
    4: 'ICMP Unreachable (Fragmentation Needed)',
    5: 'ICMP Unreachable (Source Route Failed)',
    9: 'ICMP Unreachable (Administratively Prohibited Network)',
    10: 'ICMP Unreachable (Administratively Prohibited Host)',
    13: 'ICMP Unreachable (Communication Administratively Prohibited)',
  };
  return texts[code] ?? `ICMP Unreachable (code ${code})`;
}

// classic BPF opcodes (linux/bpf_common.h)
const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_JMP = 0x05, BPF_RET = 0x06;
const BPF_B = 0x10, BPF_H = 0x08;
const BPF_IND = 0x40, BPF_MSH = 0xa0;
const BPF_JEQ = 0x10, BPF_K = 0x00;

/** One `struct sock_filter` per instruction: u16 code, u8 jt, u8 jf, u32 k, in host order (little-endian: x86-64, arm64). */
function insn(code: number, jt: number, jf: number, k: number): number[] {
  return [code, jt, jf, k];
}

/**
 * The socket filter (SO_ATTACH_FILTER) for a raw ICMP socket: accept echo replies whose identifier is
 * `ident`, and destination-unreachable or time-exceeded errors quoting an echo request with it (quoted IP
 * header without options, as we send); drop everything else in the kernel.
 */
export function echoFilterProgram(ident: number): Buffer {
  const id = ident & 0xffff;
  const prog = [
    /* 0 */ insn(BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0), // X = IP header length
    /* 1 */ insn(BPF_LD | BPF_B | BPF_IND, 0, 0, 0), // A = ICMP type
    /* 2 */ insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, ICMP_ECHO_REPLY), // reply → 3, else → 5
    /* 3 */ insn(BPF_LD | BPF_H | BPF_IND, 0, 0, 4), // A = identifier
    /* 4 */ insn(BPF_JMP | BPF_JEQ | BPF_K, 4, 5, id), // ours → accept (9), else drop (10)
    /* 5 */ insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, ICMP_DEST_UNREACH), // → 7
    /* 6 */ insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, ICMP_TIME_EXCEEDED), // neither → drop (10)
    /* 7 */ insn(BPF_LD | BPF_H | BPF_IND, 0, 0, 8 + 20 + 4), // A = quoted echo request's identifier
    /* 8 */ insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, id),
    /* 9 */ insn(BPF_RET | BPF_K, 0, 0, 0xffff), // accept (whole packet)
    /* 10 */ insn(BPF_RET | BPF_K, 0, 0, 0), // drop
  ];
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code!, i * 8);
    b[i * 8 + 2] = jt!;
    b[i * 8 + 3] = jf!;
    b.writeUInt32LE(k! >>> 0, i * 8 + 4);
  });
  return b;
}
