// The management API of the test DNS server, on its own port (never the ACME listener). Three
// dialects, so existing client setups work unchanged:
// - pebble-challtestsrv: /set-txt, /clear-txt, /add-a, ..., JSON bodies with case-insensitive keys
//   (challtestsrv decodes with Go's encoding/json), 200 with an empty body;
// - lego's httpreq provider: /present and /cleanup with {fqdn, value}, or {domain, token, keyAuth}
//   when HTTPREQ_MODE=RAW;
// - acme-dns: /register and /update (see acmedns.ts).
// There is no authentication, as in challtestsrv: anyone who reaches this port can pass dns-01 for
// any name, which is why it listens on loopback by default.
import { createHash } from "node:crypto";
import http from "node:http";
import type { Logger } from "../log/index.js";
import type { AcmeDns, ApiReply } from "./acmedns.js";
import { TestDnsInputError } from "./names.js";
import type { Zone } from "./zone.js";

export interface ApiDeps {
  zone: Zone;
  acmeDns: AcmeDns;
  log?: Pick<Logger, "info" | "warn">;
}

type Body = Record<string, unknown>;
type Reply = { status: number; json?: unknown; text?: string };
type Route = (body: Body, req: http.IncomingMessage) => Reply | void;

const MAX_BODY = 64 * 1024;

export function createApiHandler(deps: ApiDeps): http.RequestListener {
  const routes = buildRoutes(deps);
  return (req, res) => {
    handle(req).then(
      (reply) => send(res, reply),
      () => send(res, { status: 500, text: "internal error" }),
    );
  };

  async function handle(req: http.IncomingMessage): Promise<Reply> {
    const path = new URL(req.url ?? "/", "http://api.invalid").pathname.replace(/(.)\/+$/, "$1");
    if (req.method === "GET" && path === "/health") return { status: 200, json: { status: "ok" } };
    if (req.method === "GET" && path === "/records") {
      return { status: 200, json: { defaults: deps.zone.defaults, names: deps.zone.dump() } };
    }
    const route = routes[path];
    if (!route) return { status: 404, text: `no such endpoint: ${path}` };
    if (req.method !== "POST") return { status: 405, text: `${path} takes POST` };
    const body = await readBody(req);
    if ("status" in body) return body;
    try {
      const reply = route(body.value, req) ?? { status: 200 };
      deps.log?.info({ path, host: body.value.host ?? body.value.fqdn ?? body.value.domain, status: reply.status }, "test DNS API");
      return reply;
    } catch (err) {
      if (!(err instanceof TestDnsInputError)) throw err;
      deps.log?.info({ path, status: 400, error: err.message }, "test DNS API");
      return { status: 400, text: err.message };
    }
  }
}

function buildRoutes({ zone, acmeDns }: ApiDeps): Record<string, Route> {
  const host = (b: Body) => str(b, "host");
  const fromAcmeDns = (r: ApiReply): Reply => ({ status: r.status, json: r.body });
  return {
    "/set-txt": (b) => zone.addTxt(host(b), str(b, "value")),
    "/clear-txt": (b) => zone.clearTxt(host(b)),
    "/add-a": (b) => zone.addA(host(b), strings(b, "addresses")),
    "/clear-a": (b) => zone.clearA(host(b)),
    "/add-aaaa": (b) => zone.addAAAA(host(b), strings(b, "addresses")),
    "/clear-aaaa": (b) => zone.clearAAAA(host(b)),
    "/add-caa": (b) => zone.addCaa(host(b), policies(b)),
    "/clear-caa": (b) => zone.clearCaa(host(b)),
    "/set-cname": (b) => zone.setCname(host(b), str(b, "target")),
    "/clear-cname": (b) => zone.clearCname(host(b)),
    "/set-servfail": (b) => zone.setServfail(host(b)),
    "/clear-servfail": (b) => zone.clearServfail(host(b)),
    "/set-default-ipv4": (b) => zone.setDefaultIPv4(str(b, "ip", true)),
    "/set-default-ipv6": (b) => zone.setDefaultIPv6(str(b, "ip", true)),
    "/present": (b) => {
      const r = legoRecord(b);
      zone.addTxt(r.host, r.value);
    },
    // only this value: a wildcard and its base name share the _acme-challenge name
    "/cleanup": (b) => {
      const r = legoRecord(b);
      zone.removeTxt(r.host, r.value);
    },
    "/register": (b) => fromAcmeDns(acmeDns.register(b)),
    "/update": (b, req) => {
      const user = header(req, "x-api-user");
      const key = header(req, "x-api-key");
      return fromAcmeDns(acmeDns.update({ user, key }, b, req.socket.remoteAddress));
    },
  };
}

/** lego httpreq: {fqdn, value} by default; {domain, token, keyAuth} in RAW mode. */
function legoRecord(b: Body): { host: string; value: string } {
  if (b.fqdn !== undefined || b.value !== undefined) return { host: str(b, "fqdn"), value: str(b, "value") };
  const domain = str(b, "domain").replace(/^\*\./, "");
  const digest = createHash("sha256").update(str(b, "keyauth")).digest("base64url");
  return { host: `_acme-challenge.${domain}`, value: digest };
}

function str(b: Body, key: string, emptyOk = false): string {
  const v = b[key];
  if (typeof v !== "string" || (!emptyOk && v === "")) throw new TestDnsInputError(`${key}: a non-empty string is required`);
  return v;
}

function strings(b: Body, key: string): string[] {
  const v = b[key];
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "string")) {
    throw new TestDnsInputError(`${key}: a non-empty array of strings is required`);
  }
  return v as string[];
}

function policies(b: Body): Array<{ tag: string; value: string; flag?: number }> {
  const v = b.policies;
  if (!Array.isArray(v) || v.length === 0) throw new TestDnsInputError("policies: a non-empty array of {tag, value} is required");
  return v.map((p: unknown, i) => {
    if (typeof p !== "object" || p === null) throw new TestDnsInputError(`policies[${i}]: an object with tag and value is required`);
    const o = lowerKeys(p as Body);
    return { tag: o.tag as string, value: o.value as string, flag: (o.flag ?? o.flags) as number | undefined };
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Go's encoding/json matches keys case-insensitively; challtestsrv's clients rely on it ("Host"). */
function lowerKeys(o: Body): Body {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The JSON object in the body, whatever the Content-Type (curl -d sends a form type). */
async function readBody(req: http.IncomingMessage): Promise<{ value: Body } | Reply> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { status: 413, text: `the body is larger than ${MAX_BODY} bytes` };
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return { value: {} }; // acme-dns's /register takes an empty body
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { status: 400, text: `the body is not JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { status: 400, text: "the body must be a JSON object" };
  return { value: lowerKeys(parsed as Body) };
}

function send(res: http.ServerResponse, reply: Reply): void {
  if (reply.json !== undefined) {
    res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.json));
  } else if (reply.text !== undefined) {
    res.writeHead(reply.status, { "content-type": "text/plain; charset=utf-8" }).end(`${reply.text}\n`);
  } else {
    res.writeHead(reply.status).end();
  }
}

export interface ApiListener {
  host: string;
  port: number;
  close(): Promise<void>;
}

export function listenApi(handler: http.RequestListener, host: string, port: number): Promise<ApiListener> {
  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, handler);
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`test DNS API: cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => {
      const address = server.address() as { port: number };
      resolve({
        host,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
