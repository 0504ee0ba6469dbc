// The generator's DNS server: A 127.0.0.1 for every name, no records of any other type (NOERROR, empty
// answer), over UDP. The servers under test look up every name they validate (A and AAAA), so this runs
// twice per certificate inside the generator; dns2's packet reader and writer cost ~15% of the generator's
// CPU at concurrency 32, so the reply is built here from the query's own bytes instead (RFC 1035 §4.1).
// The socket is served on a thread of its own (peer-worker.ts), away from the flows' event loop.
import { startPeer } from "./peer.js";

export interface BenchDns {
  port: number;
  address: string; // "127.0.0.1:<port>"
  close(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;
const LOOPBACK = [127, 0, 0, 1];

/**
 * The reply to one DNS query, or undefined for anything that is not a standard query with exactly one
 * question (it is dropped, as a resolver times out on a server that does not answer).
 */
export function answerQuery(query: Buffer): Buffer | undefined {
  if (query.length < 12) return undefined;
  const flags = query.readUInt16BE(2);
  const isQuery = (flags & 0x8000) === 0;
  const opcode = (flags >> 11) & 0xf;
  if (!isQuery || opcode !== 0 || query.readUInt16BE(4) !== 1) return undefined;
  // the question: labels up to the root label, then QTYPE and QCLASS
  let at = 12;
  for (;;) {
    if (at >= query.length) return undefined;
    const len = query[at];
    if (len === 0) break;
    if (len > 63) return undefined; // no compression in a question
    at += 1 + len;
  }
  const questionEnd = at + 1 + 4;
  if (questionEnd > query.length) return undefined;
  const qtype = query.readUInt16BE(at + 1);
  const qclass = query.readUInt16BE(at + 3);
  const answer = qtype === TYPE_A && qclass === CLASS_IN;
  const reply = Buffer.alloc(questionEnd + (answer ? 16 : 0));
  query.copy(reply, 0, 0, questionEnd);
  // QR, the query's opcode and RD, AA and RA; RCODE 0 (NOERROR)
  reply.writeUInt16BE(0x8000 | (flags & 0x7900) | 0x0400 | 0x0080, 2);
  reply.writeUInt16BE(1, 4); // QDCOUNT
  reply.writeUInt16BE(answer ? 1 : 0, 6); // ANCOUNT
  reply.writeUInt16BE(0, 8); // NSCOUNT
  reply.writeUInt16BE(0, 10); // ARCOUNT (an EDNS OPT record in the query is not echoed)
  if (answer) {
    let o = questionEnd;
    o = reply.writeUInt16BE(0xc00c, o); // the name: a pointer to the question's
    o = reply.writeUInt16BE(TYPE_A, o);
    o = reply.writeUInt16BE(CLASS_IN, o);
    o = reply.writeUInt32BE(60, o); // TTL
    o = reply.writeUInt16BE(4, o); // RDLENGTH
    for (const b of LOOPBACK) reply[o++] = b;
  }
  return reply;
}

/** Listens on 127.0.0.1:`port` (0: any free port), on a thread of its own (peer-worker.ts). */
export async function startBenchDns(port = 0): Promise<BenchDns> {
  const peer = await startPeer("dns", port, "127.0.0.1");
  return { port: peer.port, address: `127.0.0.1:${peer.port}`, close: () => peer.close() };
}
