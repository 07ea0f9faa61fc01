// A minimal protobuf (proto3) wire codec: varints, length-delimited fields, skipping of unknown fields.
// Just enough for NAT discovery's five small messages; every read is bounds-checked and failures
// raise ProtoDecodeError, which the message layer turns into a "malformed datagram" result.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** The longest varint the format allows (a 64-bit value in 7-bit groups). */
const MAX_VARINT_BYTES = 10;

export class ProtoDecodeError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'ProtoDecodeError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Reads one message's bytes; `end` bounds nested messages inside the same buffer. */
export class ProtoReader {
  pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw new ProtoDecodeError('truncated varint', this.pos);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new ProtoDecodeError('varint longer than 10 bytes', this.pos);
  }

  /** A field key: field number and wire type. Field 0 and the group wire types are invalid. */
  key(): { field: number; wire: number } {
    const at = this.pos;
    const k = this.varint();
    const field = k >> 3n;
    const wire = Number(k & 7n);
    if (field === 0n || field > 536870911n) throw new ProtoDecodeError(`invalid field number ${field}`, at);
    return { field: Number(field), wire };
  }

  /** Bounds of a length-delimited payload; the caller reads inside [start, end). */
  lengthDelimited(): { start: number; end: number } {
    const at = this.pos;
    const len = this.varint();
    if (len > BigInt(this.end - this.pos)) throw new ProtoDecodeError(`length ${len} runs past the end`, at);
    const start = this.pos;
    this.pos += Number(len);
    return { start, end: this.pos };
  }

  bytes(): Uint8Array {
    const { start, end } = this.lengthDelimited();
    return this.buf.subarray(start, end);
  }

  string(): string {
    const at = this.pos;
    const b = this.bytes();
    try {
      return utf8.decode(b);
    } catch {
      throw new ProtoDecodeError('string is not valid UTF-8', at);
    }
  }

  /** A reader over a nested message. */
  nested(): ProtoReader {
    const { start, end } = this.lengthDelimited();
    return new ProtoReader(this.buf, start, end);
  }

  skip(wire: number): void {
    const at = this.pos;
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8, at);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.advance(4, at);
        return;
      default:
        // 3/4 are deprecated groups (never in proto3), 6/7 do not exist.
        throw new ProtoDecodeError(`unsupported wire type ${wire}`, at);
    }
  }

  private advance(n: number, at: number): void {
    if (this.end - this.pos < n) throw new ProtoDecodeError('truncated fixed-width field', at);
    this.pos += n;
  }
}

/** Protobuf scalar views of a decoded varint. */
export const asInt32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
export const asUint32 = (v: bigint): number => Number(BigInt.asUintN(32, v));
export const asBool = (v: bigint): boolean => v !== 0n;

/** Builds a message; fields are written in the order called (callers use field-number order, as Go does). */
export class ProtoWriter {
  private readonly chunks: number[] = [];

  private rawVarint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
  }

  private key(field: number, wire: number): void {
    this.rawVarint((BigInt(field) << 3n) | BigInt(wire));
  }

  /** uint64/int32/enum/bool: proto3 omits zero values. Negative int32 is sign-extended to 10 bytes. */
  varint(field: number, v: bigint | number | boolean): this {
    const n = typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v);
    if (n === 0n) return this;
    this.key(field, WIRE_VARINT);
    this.rawVarint(n);
    return this;
  }

  string(field: number, s: string): this {
    if (s === '') return this;
    return this.bytes(field, utf8Encoder.encode(s));
  }

  /** Length-delimited bytes, always written (a present sub-message may be empty). */
  bytes(field: number, b: Uint8Array): this {
    this.key(field, WIRE_LEN);
    this.rawVarint(BigInt(b.length));
    for (const x of b) this.chunks.push(x);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}
