// A DNS reply as the VA reads it (RFC 1035 §4.1): the header, the question, and the answer section's
// records, with the data of A, AAAA, CNAME and TXT decoded. dns2's `Packet.parse` did this before; it
// reads bit by bit through `Math.pow` (~62 µs for a validation's A and AAAA replies, a seventh of the
// validation thread, docs/performance.md) and follows compression pointers without bound, so it needed a
// safety walk in front of it. Here every read is bounds-checked and a malformed message throws.
//
// Names: labels are read as latin1 and joined with "." (what dns2 returned, and what the resolver
// compares after lower-casing). A compression pointer must point before itself (RFC 1035 §4.1.4: to a
// prior occurrence), and a name is at most 255 octets and 128 pointers, so every decode terminates.

export const DNS_TYPE = { A: 1, CNAME: 5, TXT: 16, AAAA: 28, CAA: 257 } as const;
export const DNS_CLASS_IN = 1;

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A: dotted quad; AAAA: eight hex groups (not compressed: canonicalize before comparing) */
  address?: string;
  /** CNAME: the target */
  domain?: string;
  /** TXT: the character-strings' bytes concatenated, as UTF-8 */
  data?: string;
}

export interface DnsReply {
  header: { id: number; qr: number; tc: number; rcode: number };
  questions: Array<{ name: string; type: number; class: number }>;
  answers: DnsRecord[];
}

export class MalformedDnsMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedDnsMessage";
  }
}

const MAX_NAME_OCTETS = 255;
const MAX_HOPS = 128;

/** Decodes a reply; throws MalformedDnsMessage for anything that is not a well-formed DNS message. */
export function decodeReply(buf: Buffer): DnsReply {
  const r = new Reader(buf);
  const id = r.u16();
  const flags = r.u16();
  const [qd, an, ns, ar] = [r.u16(), r.u16(), r.u16(), r.u16()];
  const questions: DnsReply["questions"] = [];
  for (let i = 0; i < qd; i++) {
    const name = r.name();
    questions.push({ name, type: r.u16(), class: r.u16() });
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an; i++) answers.push(r.record());
  // the other sections are not used, but a message is only taken whole
  for (let i = 0; i < ns + ar; i++) r.record(false);
  return { header: { id, qr: flags >>> 15, tc: (flags >>> 9) & 1, rcode: flags & 0xf }, questions, answers };
}

class Reader {
  #at = 0;
  constructor(private readonly buf: Buffer) {}

  #need(n: number, what: string): number {
    const at = this.#at;
    if (at + n > this.buf.length) throw new MalformedDnsMessage(`${what} runs past the end of the message`);
    this.#at = at + n;
    return at;
  }

  u16(): number {
    return this.buf.readUInt16BE(this.#need(2, "a field"));
  }

  name(): string {
    const { name, end } = readName(this.buf, this.#at);
    this.#at = end;
    return name;
  }

  record(decodeData = true): DnsRecord {
    const name = this.name();
    const at = this.#need(10, "a record header");
    const type = this.buf.readUInt16BE(at);
    const rec: DnsRecord = { name, type, class: this.buf.readUInt16BE(at + 2), ttl: this.buf.readUInt32BE(at + 4) };
    const length = this.buf.readUInt16BE(at + 8);
    const start = this.#need(length, "a record's data");
    if (decodeData) decodeRdata(this.buf, rec, start, length);
    return rec;
  }
}

function decodeRdata(buf: Buffer, rec: DnsRecord, start: number, length: number): void {
  const end = start + length;
  switch (rec.type) {
    case DNS_TYPE.A:
      // any other length is no address: the record is kept without one, and the resolver skips it
      if (length === 4) rec.address = `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
      return;
    case DNS_TYPE.AAAA:
      if (length === 16) {
        const groups: string[] = [];
        for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(start + i).toString(16));
        rec.address = groups.join(":");
      }
      return;
    case DNS_TYPE.CNAME: {
      const target = readName(buf, start);
      if (target.end !== end) throw new MalformedDnsMessage("a CNAME's target does not fill its record's data");
      rec.domain = target.name;
      return;
    }
    case DNS_TYPE.TXT: {
      const parts: Buffer[] = [];
      for (let at = start; at < end; ) {
        const len = buf[at]!;
        if (at + 1 + len > end) throw new MalformedDnsMessage("a TXT character-string runs past its record's data");
        parts.push(buf.subarray(at + 1, at + 1 + len));
        at += 1 + len;
      }
      rec.data = Buffer.concat(parts).toString("utf8");
      return;
    }
  }
}

/** The name at `start` and the offset after it (after the first pointer, if it has one). */
function readName(buf: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let off = start;
  let end = -1;
  let octets = 1; // the root's zero octet
  let hops = 0;
  for (;;) {
    if (off >= buf.length) throw new MalformedDnsMessage("a name runs past the end of the message");
    const len = buf[off]!;
    if (len === 0) return { name: labels.join("."), end: end < 0 ? off + 1 : end };
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) throw new MalformedDnsMessage("a compression pointer runs past the end of the message");
      const target = ((len & 0x3f) << 8) | buf[off + 1]!;
      if (target >= off) throw new MalformedDnsMessage("a compression pointer does not point backwards");
      if (++hops > MAX_HOPS) throw new MalformedDnsMessage("a name with too many compression pointers");
      if (end < 0) end = off + 2;
      off = target;
      continue;
    }
    if (len & 0xc0) throw new MalformedDnsMessage("a label of an unsupported type");
    if (off + 1 + len > buf.length) throw new MalformedDnsMessage("a label runs past the end of the message");
    octets += 1 + len;
    if (octets > MAX_NAME_OCTETS) throw new MalformedDnsMessage("a name longer than 255 octets");
    labels.push(buf.toString("latin1", off + 1, off + 1 + len));
    off += 1 + len;
  }
}
