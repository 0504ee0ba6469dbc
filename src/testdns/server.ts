// The DNS listeners: UDP and TCP on the same address and port. The sockets are plain node:dgram and
// node:net rather than dns2's servers, which hand every datagram to dns2's parser (see wire.ts) and
// read one message per TCP connection; here a TCP client may send several queries (RFC 7766 §6.2.1),
// idle connections are closed and their number is capped.
import dgram from "node:dgram";
import net from "node:net";
import { buildResponse, parseQuery, typeName, UDP_MAX, type Question } from "./wire.js";
import type { Resolution } from "./zone.js";

export interface DnsListenerOptions {
  host: string;
  /** 0 picks a free port (the same number for UDP and TCP) */
  port: number;
  resolve: (q: Question) => Resolution;
  /** called for each question answered, e.g. to log it */
  onQuery?: (q: { name: string; type: string; transport: "udp" | "tcp"; rcode: string }) => void;
  tcpIdleMs?: number;
  maxTcpConnections?: number;
}

export interface DnsListener {
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function listenDns(opts: DnsListenerOptions): Promise<DnsListener> {
  const attempts = opts.port === 0 ? 20 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const udp = createUdp(opts);
    try {
      await bindUdp(udp, opts.host, opts.port);
    } catch (err) {
      udp.close();
      throw bindError("UDP", opts, err);
    }
    const port = udp.address().port;
    const tcp = createTcp(opts);
    try {
      await listenTcp(tcp.server, opts.host, port);
    } catch (err) {
      // with port 0 the kernel's free UDP port may be taken for TCP: try another one
      lastError = err;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      continue;
    }
    return { host: opts.host, port, close: () => closeBoth(udp, tcp) };
  }
  throw bindError("TCP", opts, lastError);
}

function bindError(proto: string, opts: DnsListenerOptions, err: unknown): Error {
  return new Error(`test DNS server: cannot listen on ${proto} ${opts.host}:${opts.port}: ${(err as Error)?.message ?? err}`);
}

function answer(msg: Buffer, transport: "udp" | "tcp", opts: DnsListenerOptions): Buffer | undefined {
  const query = parseQuery(msg);
  if (!query) return undefined;
  let rcode = query.rcode ?? "NOERROR";
  const response = buildResponse(query, (q) => {
    const r = opts.resolve(q);
    rcode = r.rcode;
    return r;
  }, transport === "udp" ? UDP_MAX : undefined);
  const q = query.question;
  if (q) opts.onQuery?.({ name: q.name, type: typeName(q.type), transport, rcode });
  return response;
}

function createUdp(opts: DnsListenerOptions): dgram.Socket {
  const socket = dgram.createSocket(net.isIPv6(opts.host) ? "udp6" : "udp4");
  socket.on("message", (msg, rinfo) => {
    let reply: Buffer | undefined;
    try {
      reply = answer(msg, "udp", opts);
    } catch {
      return; // a message we cannot encode an answer for is dropped; the client retries or times out
    }
    if (reply) socket.send(reply, rinfo.port, rinfo.address, () => undefined);
  });
  // after a successful bind, errors are per datagram (e.g. ICMP unreachable): nothing to do
  socket.on("error", () => undefined);
  return socket;
}

function bindUdp(socket: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

interface TcpListener {
  server: net.Server;
  sockets: Set<net.Socket>;
}

function createTcp(opts: DnsListenerOptions): TcpListener {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.setTimeout(opts.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // each message is preceded by its length in two bytes (RFC 1035 §4.2.2)
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        let reply: Buffer | undefined;
        try {
          reply = answer(msg, "tcp", opts);
        } catch {
          reply = undefined;
        }
        if (!reply) {
          socket.destroy();
          return;
        }
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([len, reply]));
      }
    });
  });
  server.maxConnections = opts.maxTcpConnections ?? 128;
  return { server, sockets };
}

function listenTcp(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function closeBoth(udp: dgram.Socket, tcp: TcpListener): Promise<void> {
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  await new Promise<void>((resolve) => {
    tcp.server.close(() => resolve());
    for (const socket of tcp.sockets) socket.destroy();
  });
}
