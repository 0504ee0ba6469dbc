// DNS messages: reading a question and writing the answer. The question is read here, not by dns2,
// because dns2's name decoder follows compression pointers without a bound (a query pointing at
// itself would hang the whole Anvil process) and swallows parse errors; the answer is encoded with
// dns2's Packet, given only values this file has checked.
import dns2 from "dns2";
import { expandIPv6 } from "./names.js";
import type { Answer, Resolution } from "./zone.js";

const { Packet } = dns2;
type Packet = InstanceType<typeof Packet>;

/** Classic DNS over UDP without EDNS (RFC 1035 §4.2.1); a bigger answer is sent with TC=1. */
export const UDP_MAX = 512;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v, k]));

export interface Question {
  name: string; // as asked, without the trailing dot
  type: number;
  class: number;
}

export interface Query {
  id: number;
  opcode: number;
  rd: number;
  /** present when the message holds exactly one well-formed question */
  question?: Question;
  /** set when the query cannot be answered normally */
  rcode?: Rcode;
}

/** Reads a query; undefined for anything that must not be answered (too short, or itself a response). */
export function parseQuery(msg: Buffer): Query | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response: answering it could start a loop between servers
  const query: Query = { id: msg.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rd: (flags >> 8) & 1 };
  if (query.opcode !== 0) return { ...query, rcode: "NOTIMP" };
  if (msg.readUInt16BE(4) !== 1) return { ...query, rcode: "FORMERR" };
  const question = readQuestion(msg, 12);
  return question ? { ...query, question } : { ...query, rcode: "FORMERR" };
}

/** The single question at `offset`; uncompressed labels only, as every client sends them. */
function readQuestion(msg: Buffer, offset: number): Question | undefined {
  const labels: string[] = [];
  let off = offset;
  let length = 0;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off += 1;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined; // a pointer (0xc0) or another label type
    const label = msg.toString("latin1", off, off + len);
    if (label.includes(".")) return undefined; // would not survive dns2's text-based name encoder
    labels.push(label);
    length += len + 1;
    if (length > 255) return undefined;
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join("."), type: msg.readUInt16BE(off), class: msg.readUInt16BE(off + 2) };
}

/** "A", "TXT", ... or "TYPE<n>" for types dns2 does not name. */
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE${type}`;
}

/**
 * The answer to a query. `resolve` is asked only for class IN (or ANY) questions; other classes get
 * REFUSED. With `maxSize` (UDP), an answer that does not fit goes out empty with TC=1, so the
 * client asks again over TCP (RFC 7766).
 */
export function buildResponse(query: Query, resolve: (q: Question) => Resolution, maxSize?: number): Buffer {
  const q = query.question;
  let rcode: Rcode = query.rcode ?? "NOERROR";
  let answers: Answer[] = [];
  if (q && !query.rcode) {
    if (q.class !== Packet.CLASS.IN && q.class !== Packet.CLASS.ANY) {
      rcode = "REFUSED";
    } else {
      const r = resolve(q);
      rcode = r.rcode;
      answers = r.answers;
    }
  }
  const full = encode(query, rcode, answers, false);
  if (maxSize === undefined || full.length <= maxSize) return full;
  return encode(query, rcode, [], true);
}

function encode(query: Query, rcode: Rcode, answers: Answer[], truncated: boolean): Buffer {
  const p = new Packet();
  p.header = {
    id: query.id, qr: 1, opcode: query.opcode, aa: 1, tc: truncated ? 1 : 0, rd: query.rd, ra: 1, z: 0,
    rcode: RCODE[rcode], qdcount: 0, ancount: 0, nscount: 0, arcount: 0,
  };
  if (query.question) p.questions = [{ ...query.question }];
  p.answers = answers.map(toResource);
  return p.toBuffer();
}

const TTL = 0; // records change whenever a client calls the API: nothing should cache them

function toResource(a: Answer): Packet["answers"][number] {
  const base = { name: a.name, class: Packet.CLASS.IN, ttl: TTL };
  switch (a.type) {
    case "A":
    case "AAAA":
      return { ...base, type: Packet.TYPE[a.type], address: a.type === "AAAA" ? expandIPv6(a.address) : a.address };
    case "CNAME":
      return { ...base, type: Packet.TYPE.CNAME, domain: a.target };
    case "TXT":
      return { ...base, type: Packet.TYPE.TXT, data: characterStrings(a.value) };
    case "CAA":
      return { ...base, type: Packet.TYPE.CAA, flags: a.flag, tag: a.tag, value: a.value };
  }
}

/** A TXT character-string holds at most 255 bytes (RFC 1035 §3.3.14): longer values are split. */
export function characterStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, "utf8");
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) parts.push(bytes.subarray(i, i + 255));
  return parts.length ? parts : [Buffer.alloc(0)];
}
