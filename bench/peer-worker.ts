// The client's side of validation on a thread of its own: the http-01 responder, or the DNS server.
// The servers under test call these while the generator's event loop is busy running 32 flows; on that
// loop each validation waited behind the flows' work (event-loop delay p99 12–16 ms at concurrency 8),
// and an answer that includes the validation (Anvil's challenge POST) measured that wait. A real client's
// http-01 server is another process; this is the closest in-process equivalent, and its CPU still counts
// as the generator's. The parent's side is in flow.ts (startResponder) and dns.ts (startBenchDns).
import { createSocket } from "node:dgram";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { answerQuery } from "./dns.js";

export interface PeerData {
  kind: "http-01" | "dns";
  port: number;
  host: string;
  /** Int32Array over it: [0] validation requests served with a key authorization (http-01) */
  counters: SharedArrayBuffer;
}
/** parent → worker: account answers with `{ ack: id }`; close with `{ closed: true }` */
export type PeerRequest = { op: "account"; id: number; label: string; thumbprint: string } | { op: "close" };
export type PeerReply = { listening: number } | { ack: number } | { closed: true } | { failed: string };

const data = workerData as PeerData;
const port = parentPort!;
const served = new Int32Array(data.counters);

/** One server on this thread: it listens, answers the parent's requests (http-01: set/delete), closes. */
interface Served {
  listen(cb: (port: number) => void): void;
  handle?(m: PeerRequest): void;
  close(cb: () => void): void;
}

/**
 * The http-01 responder knows the accounts, not the tokens: a name's first label starts with its account's
 * label (`a3-…`, flow.ts), and any well-formed token under that name is answered with `<token>.<thumbprint>`,
 * the key authorization of RFC 8555 §8.1. The parent registers each account once; nothing passes between
 * the threads per certificate (a message each way per challenge cost the generator ~8% of its CPU and a
 * thread hop before every challenge POST). The server under test still checks the answer against its own
 * token: a server that asked for the wrong one gets the wrong key authorization.
 */
function serveHttp01(): Served {
  const thumbprints = new Map<string, string>();
  const prefix = "/.well-known/acme-challenge/";
  const server = createServer((req, res) => {
    const url = req.url ?? "";
    const token = url.startsWith(prefix) ? url.slice(prefix.length) : "";
    const host = (req.headers.host ?? "").toLowerCase();
    const thumbprint = thumbprints.get(host.slice(0, host.search(/[-.:]|$/)));
    const value = thumbprint !== undefined && /^[A-Za-z0-9_-]{22,}$/.test(token) ? `${token}.${thumbprint}` : undefined;
    if (value !== undefined) Atomics.add(served, 0, 1);
    res.writeHead(value === undefined ? 404 : 200, { "content-type": "text/plain" });
    res.end(value ?? "not found");
  });
  server.once("error", (err) => port.postMessage({ failed: err.message } satisfies PeerReply));
  return {
    listen: (cb) => server.listen(data.port, data.host, () => cb((server.address() as AddressInfo).port)),
    handle(m) {
      if (m.op !== "account") return;
      thumbprints.set(m.label, m.thumbprint);
      port.postMessage({ ack: m.id } satisfies PeerReply);
    },
    close: (cb) => (server.close(() => cb()), server.closeAllConnections()),
  };
}

function serveDns(): Served {
  const socket = createSocket("udp4");
  socket.on("message", (msg, from) => {
    const reply = answerQuery(msg);
    if (reply) socket.send(reply, from.port, from.address);
  });
  socket.once("error", (err) => port.postMessage({ failed: err.message } satisfies PeerReply));
  return {
    listen: (cb) =>
      socket.bind(data.port, data.host, () => {
        socket.removeAllListeners("error");
        socket.on("error", () => undefined); // a send to a resolver that went away
        cb((socket.address() as AddressInfo).port);
      }),
    close: (cb) => socket.close(() => cb()),
  };
}

const server = data.kind === "dns" ? serveDns() : serveHttp01();
port.on("message", (m: PeerRequest) => {
  if (m.op === "close") server.close(() => port.postMessage({ closed: true } satisfies PeerReply));
  else server.handle?.(m);
});
server.listen((bound) => port.postMessage({ listening: bound } satisfies PeerReply));
