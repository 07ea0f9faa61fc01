// VICI wire format (strongSwan's src/libcharon/plugins/vici/README.md): messages as trees of sections,
// key/values and lists; packets as a type byte, an optional name and a message; every length is checked
// against the bytes actually present, so malformed input is a ViciError, never a crash or a hang.
import { ViciError } from './errors.js';

/** Element types inside a message. */
export const Element = {
  SECTION_START: 1,
  SECTION_END: 2,
  KEY_VALUE: 3,
  LIST_START: 4,
  LIST_ITEM: 5,
  LIST_END: 6,
} as const;

/** Packet types. */
export const PacketType = {
  CMD_REQUEST: 0,
  CMD_RESPONSE: 1,
  CMD_UNKNOWN: 2,
  EVENT_REGISTER: 3,
  EVENT_UNREGISTER: 4,
  EVENT_CONFIRM: 5,
  EVENT_UNKNOWN: 6,
  EVENT: 7,
} as const;
export type PacketTypeValue = (typeof PacketType)[keyof typeof PacketType];

const PACKET_NAMES: readonly string[] = ['CMD_REQUEST', 'CMD_RESPONSE', 'CMD_UNKNOWN', 'EVENT_REGISTER', 'EVENT_UNREGISTER', 'EVENT_CONFIRM', 'EVENT_UNKNOWN', 'EVENT'];
const NAMED: ReadonlySet<number> = new Set([PacketType.CMD_REQUEST, PacketType.EVENT_REGISTER, PacketType.EVENT_UNREGISTER, PacketType.EVENT]);
const WITH_MESSAGE: ReadonlySet<number> = new Set([PacketType.CMD_REQUEST, PacketType.CMD_RESPONSE, PacketType.EVENT]);

export function packetTypeName(t: number): string {
  return PACKET_NAMES[t] ?? `type ${t}`;
}

/** The protocol's segment limit: 512 KiB of data after the 4-byte length. */
export const MAX_PACKET_BYTES = 512 * 1024;
/** Deepest section nesting accepted when decoding (charon's messages nest 4-5 levels). */
export const MAX_DEPTH = 64;

/** A decoded message: values are strings (UTF-8), lists are string arrays, sections nest. */
export interface ViciSection {
  [key: string]: ViciEntry;
}
export type ViciEntry = string | string[] | ViciSection;

/** What can be encoded: numbers as decimal text, booleans as yes/no, undefined entries are skipped. */
export type ViciInputValue = string | number | boolean | Uint8Array;
export type ViciInputEntry = ViciInputValue | readonly ViciInputValue[] | ViciInputSection | undefined;
export interface ViciInputSection {
  readonly [key: string]: ViciInputEntry;
}

export interface ViciPacket {
  type: PacketTypeValue;
  /** For named packets (CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER, EVENT). */
  name?: string;
  /** For CMD_REQUEST, CMD_RESPONSE and EVENT. */
  message?: ViciSection;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function valueBytes(v: ViciInputValue, where: string): Buffer {
  let b: Buffer;
  if (typeof v === 'string') b = Buffer.from(v, 'utf8');
  else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ViciError('ENCODE', `${where}: ${v} is not a finite number`);
    b = Buffer.from(String(v), 'ascii');
  } else if (typeof v === 'boolean') b = Buffer.from(v ? 'yes' : 'no', 'ascii');
  else b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (b.length > 0xffff) throw new ViciError('ENCODE', `${where}: value of ${b.length} bytes exceeds 65535`);
  return b;
}

function nameBytes(name: string, where: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length === 0 || b.length > 0xff) throw new ViciError('ENCODE', `${where}: name must be 1-255 bytes, got ${b.length}`);
  return b;
}

function isValue(e: ViciInputEntry): e is ViciInputValue {
  return typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean' || e instanceof Uint8Array;
}

function encodeSection(section: ViciInputSection, out: Buffer[], path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new ViciError('ENCODE', `${path || 'message'}: nested deeper than ${MAX_DEPTH}`);
  for (const key of Object.keys(section)) {
    const entry = section[key];
    if (entry === undefined) continue;
    const where = path ? `${path}.${key}` : key;
    const name = nameBytes(key, where);
    if (isValue(entry)) {
      const v = valueBytes(entry, where);
      const head = Buffer.alloc(2 + name.length);
      head[0] = Element.KEY_VALUE;
      head[1] = name.length;
      name.copy(head, 2);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(v.length, 0);
      out.push(head, len, v);
    } else if (Array.isArray(entry)) {
      out.push(Buffer.from([Element.LIST_START, name.length]), name);
      (entry as readonly ViciInputValue[]).forEach((item, i) => {
        if (!isValue(item)) throw new ViciError('ENCODE', `${where}[${i}]: list items must be values`);
        const v = valueBytes(item, `${where}[${i}]`);
        const len = Buffer.alloc(3);
        len[0] = Element.LIST_ITEM;
        len.writeUInt16BE(v.length, 1);
        out.push(len, v);
      });
      out.push(Buffer.from([Element.LIST_END]));
    } else if (typeof entry === 'object' && entry !== null) {
      out.push(Buffer.from([Element.SECTION_START, name.length]), name);
      encodeSection(entry as ViciInputSection, out, where, depth + 1);
      out.push(Buffer.from([Element.SECTION_END]));
    } else {
      throw new ViciError('ENCODE', `${where}: cannot encode a ${typeof entry}`);
    }
  }
}

/** Encodes a message (the implicit root section). */
export function encodeMessage(message: ViciInputSection): Buffer {
  const out: Buffer[] = [];
  encodeSection(message, out, '', 0);
  return Buffer.concat(out);
}

/** Encodes a whole packet including the 4-byte length prefix. */
export function encodePacket(type: PacketTypeValue, name?: string, message?: ViciInputSection): Buffer {
  const parts: Buffer[] = [Buffer.from([type])];
  if (NAMED.has(type)) {
    if (name === undefined) throw new ViciError('ENCODE', `${packetTypeName(type)} needs a name`);
    const n = nameBytes(name, `${packetTypeName(type)} name`);
    parts.push(Buffer.from([n.length]), n);
  } else if (name !== undefined) {
    throw new ViciError('ENCODE', `${packetTypeName(type)} has no name`);
  }
  if (WITH_MESSAGE.has(type)) parts.push(encodeMessage(message ?? {}));
  else if (message !== undefined) throw new ViciError('ENCODE', `${packetTypeName(type)} carries no message`);
  const body = Buffer.concat(parts);
  if (body.length > MAX_PACKET_BYTES) throw new ViciError('ENCODE', `packet of ${body.length} bytes exceeds ${MAX_PACKET_BYTES}`);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function newSection(): ViciSection {
  return Object.create(null) as ViciSection;
}

function malformed(offset: number, what: string): ViciError {
  return new ViciError('MALFORMED', `malformed VICI message at byte ${offset}: ${what}`);
}

/** Decodes a message; throws ViciError('MALFORMED') on any violation of the format. */
export function decodeMessage(buf: Uint8Array): ViciSection {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const root = newSection();
  const stack: ViciSection[] = [root];
  let list: string[] | undefined;
  let pos = 0;
  const need = (n: number, what: string): void => {
    if (pos + n > b.length) throw malformed(pos, `truncated ${what} (need ${n} bytes, ${b.length - pos} left)`);
  };
  const readName = (what: string): string => {
    need(1, `${what} name length`);
    const len = b[pos]!;
    pos += 1;
    if (len === 0) throw malformed(pos - 1, `empty ${what} name`);
    need(len, `${what} name`);
    const s = b.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const readValue = (what: string): string => {
    need(2, `${what} value length`);
    const len = b.readUInt16BE(pos);
    pos += 2;
    need(len, `${what} value`);
    const s = b.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const put = (section: ViciSection, key: string, v: ViciEntry, at: number): void => {
    if (Object.prototype.hasOwnProperty.call(section, key)) throw malformed(at, `duplicate key "${key}"`);
    section[key] = v;
  };
  while (pos < b.length) {
    const at = pos;
    const type = b[pos]!;
    pos += 1;
    const current = stack[stack.length - 1]!;
    switch (type) {
      case Element.SECTION_START: {
        if (list) throw malformed(at, 'section inside a list');
        const name = readName('section');
        if (stack.length > MAX_DEPTH) throw malformed(at, `sections nested deeper than ${MAX_DEPTH}`);
        const s = newSection();
        put(current, name, s, at);
        stack.push(s);
        break;
      }
      case Element.SECTION_END:
        if (list) throw malformed(at, 'section end inside a list');
        if (stack.length === 1) throw malformed(at, 'section end without a section');
        stack.pop();
        break;
      case Element.KEY_VALUE: {
        if (list) throw malformed(at, 'key/value inside a list');
        const key = readName('key');
        put(current, key, readValue('key'), at);
        break;
      }
      case Element.LIST_START: {
        if (list) throw malformed(at, 'nested list');
        const name = readName('list');
        list = [];
        put(current, name, list, at);
        break;
      }
      case Element.LIST_ITEM:
        if (!list) throw malformed(at, 'list item outside a list');
        list.push(readValue('list item'));
        break;
      case Element.LIST_END:
        if (!list) throw malformed(at, 'list end without a list');
        list = undefined;
        break;
      default:
        throw malformed(at, `unknown element type ${type}`);
    }
  }
  if (list) throw malformed(pos, 'list not closed (truncated message?)');
  if (stack.length > 1) throw malformed(pos, `${stack.length - 1} section(s) not closed (truncated message?)`);
  return root;
}

/** Decodes one packet body (the bytes after the 4-byte length). */
export function decodePacket(body: Uint8Array): ViciPacket {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (b.length === 0) throw new ViciError('MALFORMED', 'malformed VICI packet: empty');
  if (b.length > MAX_PACKET_BYTES) throw new ViciError('TOO_LARGE', `VICI packet of ${b.length} bytes exceeds ${MAX_PACKET_BYTES}`);
  const type = b[0]!;
  if (type > PacketType.EVENT) throw new ViciError('MALFORMED', `malformed VICI packet: unknown packet type ${type}`);
  const t = type as PacketTypeValue;
  let pos = 1;
  const packet: ViciPacket = { type: t };
  if (NAMED.has(t)) {
    if (b.length < 2) throw new ViciError('MALFORMED', `malformed VICI packet: ${packetTypeName(t)} without a name length`);
    const len = b[1]!;
    if (len === 0) throw new ViciError('MALFORMED', `malformed VICI packet: ${packetTypeName(t)} with an empty name`);
    if (2 + len > b.length) throw new ViciError('MALFORMED', `malformed VICI packet: ${packetTypeName(t)} name truncated (${len} bytes announced, ${b.length - 2} present)`);
    packet.name = b.toString('utf8', 2, 2 + len);
    pos = 2 + len;
  }
  if (WITH_MESSAGE.has(t)) packet.message = decodeMessage(b.subarray(pos));
  else if (pos !== b.length) throw new ViciError('MALFORMED', `malformed VICI packet: ${b.length - pos} unexpected byte(s) after ${packetTypeName(t)}`);
  return packet;
}

/**
 * Splits a byte stream into packets. Keeps at most one partial packet; a length above the limit is an
 * error at once (the stream cannot be resynchronized, so the caller must drop the connection).
 */
export class PacketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxPacketBytes = MAX_PACKET_BYTES) {}

  /** Bytes held for an incomplete packet. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns every complete packet. Throws ViciError on a malformed packet. */
  push(chunk: Uint8Array): ViciPacket[] {
    if (chunk.length > 0) {
      this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const out: ViciPacket[] = [];
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (len > this.maxPacketBytes) throw new ViciError('TOO_LARGE', `VICI packet announces ${len} bytes, more than the ${this.maxPacketBytes} limit`);
      if (len === 0) throw new ViciError('MALFORMED', 'malformed VICI packet: zero length');
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      out.push(decodePacket(all.subarray(4)));
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Text form (for logs, tests and `hawser show`): swanctl-like, one element per line.

function quote(v: string): string {
  return /^[\w./:%@,+=-]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
}

/** Prints a message in a stable, swanctl-like text form. Values under `redact` keys print as `<redacted>`. */
export function messageToText(message: ViciInputSection | ViciSection, opts: { redact?: readonly string[] } = {}, indent = ''): string {
  const redact = new Set(opts.redact ?? []);
  const lines: string[] = [];
  for (const key of Object.keys(message)) {
    const e = (message as ViciInputSection)[key];
    if (e === undefined) continue;
    if (isValue(e)) {
      const text = redact.has(key) ? '<redacted>' : e instanceof Uint8Array ? `0x${Buffer.from(e).toString('hex')}` : quote(String(typeof e === 'boolean' ? (e ? 'yes' : 'no') : e));
      lines.push(`${indent}${key} = ${text}`);
    } else if (Array.isArray(e)) {
      const items = (e as readonly ViciInputValue[]).map((x) => (redact.has(key) ? '<redacted>' : quote(String(x))));
      lines.push(`${indent}${key} = [${items.join(', ')}]`);
    } else {
      lines.push(`${indent}${key} {`);
      const inner = messageToText(e as ViciInputSection, opts, indent + '  ');
      if (inner) lines.push(inner);
      lines.push(`${indent}}`);
    }
  }
  return lines.join('\n');
}
