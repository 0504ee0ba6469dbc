// One DNS exchange with one server: UDP first, TCP when the answer is truncated (RFC 1035 §4.2,
// RFC 7766). The transport is ours because dns2's clients have no timeout, never close a socket whose
// answer does not come, take IDs from 10,000 values and throw an uncaught exception on a mismatched
// reply, which a validation authority cannot afford. The query (a header and one question) is written
// here and the reply read by dnsreply.ts: dns2's bit-by-bit writer and reader cost 70 µs per query and
// ~62 µs per validation's two replies.
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { DNS_CLASS_IN, DNS_TYPE, decodeReply, type DnsReply } from "./dnsreply.js";

export type QueryType = keyof typeof DNS_TYPE;

export interface DnsServer {
  host: string;
  port: number;
  /** "host:port" ("[v6]:port"), as shown in validation records and problem details */
  label: string;
}

/** A failure to get any answer (as opposed to an answer with an error rcode). */
export class DnsTransportError extends Error {
  constructor(readonly reason: "timeout" | "network error" | "malformed response" | "name too long or not ASCII", message: string) {
    super(message);
    this.name = "DnsTransportError";
  }
}

export function parseServer(text: string): DnsServer {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let port = 53;
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (net.isIP(text)) {
    host = text;
  } else {
    const i = text.lastIndexOf(":");
    host = i < 0 ? text : text.slice(0, i);
    if (i >= 0) port = Number(text.slice(i + 1));
  }
  if (!net.isIP(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"${text}" is not a DNS server address (expected "ip:port", "[ipv6]:port" or "ip")`);
  }
  const label = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, label };
}

// e.g. a CNAME target too long to ask for: no answer can be had, and the problem detail says why
const unqueryable = (message: string) => new DnsTransportError("name too long or not ASCII", message);

/** The wire form of a recursive query for one name and type (RFC 1035 §4.1); throws for a name DNS cannot carry. */
export function buildQuery(name: string, type: QueryType, id: number = randomInt(0, 0x10000)): { id: number; wire: Buffer } {
  const labels = name.replace(/\.$/, "").split(".");
  const qname = Buffer.alloc(name.length + 2);
  let at = 0;
  for (const label of labels) {
    const len = Buffer.byteLength(label);
    if (len === 0 || len > 63 || len !== label.length) throw unqueryable(`"${name}" is not a DNS name a query can carry`);
    qname[at++] = len;
    at += qname.write(label, at, "latin1");
  }
  qname[at++] = 0;
  if (at > 255) throw unqueryable(`"${name}" is longer than 255 octets`);
  const wire = Buffer.alloc(12 + at + 4);
  wire.writeUInt16BE(id, 0);
  wire.writeUInt16BE(0x0100, 2); // QR=0, OPCODE=QUERY, RD=1
  wire.writeUInt16BE(1, 4); // QDCOUNT; AN, NS and AR counts stay 0
  qname.copy(wire, 12, 0, at);
  wire.writeUInt16BE(DNS_TYPE[type], 12 + at);
  wire.writeUInt16BE(DNS_CLASS_IN, 14 + at);
  return { id, wire };
}

const sameName = (a: string, b: string) => a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();

/** Parses a reply and checks it answers our question; undefined for anything else. */
function parseReply(buf: Buffer, id: number, name: string, type: QueryType): DnsReply | undefined {
  let reply: DnsReply;
  try {
    reply = decodeReply(buf);
  } catch {
    return undefined;
  }
  const q = reply.questions[0];
  if (reply.header.id !== id || reply.header.qr !== 1 || !q) return undefined;
  if (!sameName(q.name, name) || q.type !== DNS_TYPE[type]) return undefined;
  return reply;
}

export async function exchange(server: DnsServer, name: string, type: QueryType, timeoutMs: number): Promise<DnsReply> {
  const reply = await exchangeUdp(server, name, type, timeoutMs);
  return reply.header.tc ? exchangeTcp(server, name, type, timeoutMs) : reply;
}

function exchangeUdp(server: DnsServer, name: string, type: QueryType, timeoutMs: number): Promise<DnsReply> {
  const { id, wire } = buildQuery(name, type);
  const socket = dgram.createSocket(net.isIPv6(server.host) ? "udp6" : "udp4");
  return new Promise<DnsReply>((resolve, reject) => {
    const send = () => socket.send(wire, server.port, server.host, (err) => err && fail(new DnsTransportError("network error", err.message)));
    // one retransmission halfway: a single lost datagram should not fail a validation
    const resend = setTimeout(send, timeoutMs / 2);
    const timer = setTimeout(() => fail(new DnsTransportError("timeout", `no answer within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    const done = () => {
      settled = true;
      clearTimeout(timer);
      clearTimeout(resend);
      socket.close();
    };
    const fail = (err: Error) => {
      if (settled) return;
      done();
      reject(err);
    };
    socket.on("error", (err) => fail(new DnsTransportError("network error", err.message)));
    socket.on("message", (msg, rinfo) => {
      // replies from anyone but the server, or to another question, are ignored (spoofing)
      if (rinfo.port !== server.port || !sameAddress(rinfo.address, server.host)) return;
      const reply = parseReply(msg, id, name, type);
      if (!reply || settled) return;
      done();
      resolve(reply);
    });
    send();
  });
}

function exchangeTcp(server: DnsServer, name: string, type: QueryType, timeoutMs: number): Promise<DnsReply> {
  const { id, wire } = buildQuery(name, type);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(wire.length);
  return new Promise<DnsReply>((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new DnsTransportError("timeout", `no answer over TCP within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    const finish = (err?: Error, reply?: DnsReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    socket.on("connect", () => socket.write(Buffer.concat([len, wire])));
    socket.on("error", (err) => finish(new DnsTransportError("network error", `TCP: ${err.message}`)));
    socket.on("end", () => finish(new DnsTransportError("network error", "TCP connection closed before a full answer")));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const reply = parseReply(received.subarray(2, 2 + received.readUInt16BE(0)), id, name, type);
      if (reply) finish(undefined, reply);
      else finish(new DnsTransportError("malformed response", "the TCP answer does not answer the question"));
    });
  });
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, "") === b.replace(/^::ffff:/, "");
}
