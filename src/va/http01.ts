// http-01 (RFC 8555 §8.3, RFC 8738 for IP identifiers): GET the key authorization from
// http://<identifier>/.well-known/acme-challenge/<token>, following redirects within the ports the
// VA is configured for, connecting to addresses (never names) that the address policy allows.
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { canonicalIp } from "../core/index.js";
import type { ProblemData, ValidationRecord } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { DeadlineError, preview, type VAContext } from "./context.js";
import { dial } from "./dial.js";
import { describeNetError } from "./problems.js";
import type { ValidationRequest, ValidationResult } from "./types.js";

const TOKEN = /^[A-Za-z0-9_-]+$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Fetched {
  status: number;
  location?: string;
  body: Buffer;
  oversize: boolean;
}

export async function validateHttp01(ctx: VAContext, req: ValidationRequest): Promise<ValidationResult> {
  if (!TOKEN.test(req.token)) {
    return { records: [], problem: problemData("malformed", "the challenge token is not base64url") };
  }
  const host = req.identifier.type === "ip" ? (canonicalIp(req.identifier.value) ?? req.identifier.value) : req.identifier.value.toLowerCase();
  const hostInUrl = net.isIPv6(host) ? `[${host}]` : host;
  let url = new URL(`http://${hostInUrl}:${ctx.config.httpPort}/.well-known/acme-challenge/${req.token}`);
  const records: ValidationRecord[] = [];
  const seen = new Set([url.href]);

  for (let redirects = 0; ; redirects++) {
    const hop = await fetchOnce(ctx, url, redirects === 0 ? "rejectedIdentifier" : "connection");
    records.push(...hop.records);
    if (hop.problem) return { records, problem: hop.problem };
    const res = hop.response!;
    if (REDIRECTS.has(res.status) && res.location !== undefined) {
      const next = redirectTarget(ctx, url, res.location);
      if (!(next instanceof URL)) return { records, problem: next };
      if (redirects >= ctx.config.maxRedirects) {
        return { records, problem: connectionProblem(`Too many redirects: more than ${ctx.config.maxRedirects}, the last from ${url.href} to ${next.href}`) };
      }
      if (seen.has(next.href)) {
        return { records, problem: connectionProblem(`Redirect loop detected: ${url.href} redirects to ${next.href}, which was already visited`) };
      }
      seen.add(next.href);
      url = next;
      continue;
    }
    return { records, problem: checkResponse(ctx, url, res, req.keyAuthorization) };
  }
}

function checkResponse(ctx: VAContext, url: URL, res: Fetched, keyAuthorization: string): ProblemData | undefined {
  if (res.status !== 200) {
    const extra = REDIRECTS.has(res.status) ? " (a redirect without a Location header)" : "";
    return problemData("unauthorized", `Invalid response from ${url.href}: HTTP ${res.status}${extra}`);
  }
  if (res.oversize) {
    return problemData(
      "incorrectResponse",
      `The response from ${url.href} is longer than ${ctx.config.maxBodyBytes} bytes; it must be the key authorization ` +
        `"${keyAuthorization}" (${keyAuthorization.length} bytes), optionally followed by whitespace`,
    );
  }
  // RFC 8555 §8.3: the server SHOULD ignore whitespace at the end of the body
  const received = res.body.toString("utf8").replace(/\s+$/u, "");
  if (received === keyAuthorization) return undefined;
  return problemData(
    "incorrectResponse",
    `The key authorization file from ${url.href} did not match this challenge. ` +
      `Expected "${keyAuthorization}" (got ${preview(received)})`,
  );
}

/** Only http on the http-01 port and https on the tls-alpn-01 port, as Boulder does with 80 and 443. */
function redirectTarget(ctx: VAContext, from: URL, location: string): URL | ProblemData {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return connectionProblem(`Invalid redirect from ${from.href}: the Location header ${preview(location)} is not a URL`);
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    return connectionProblem(
      `Invalid redirect from ${from.href} to ${preview(next.href)}: only "http" and "https" are supported, not "${next.protocol.slice(0, -1)}"`,
    );
  }
  const port = portOf(next);
  const allowed = next.protocol === "http:" ? ctx.config.httpPort : ctx.config.tlsAlpnPort;
  if (port !== allowed) {
    return connectionProblem(
      `Invalid redirect from ${from.href} to ${next.href}: port ${port} is not allowed; ` +
        `redirects may go to http on port ${ctx.config.httpPort} or https on port ${ctx.config.tlsAlpnPort}`,
    );
  }
  return next;
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

function connectionProblem(detail: string): ProblemData {
  return problemData("connection", detail);
}

async function fetchOnce(
  ctx: VAContext,
  url: URL,
  deniedType: "rejectedIdentifier" | "connection",
): Promise<{ records: ValidationRecord[]; problem?: ProblemData; response?: Fetched }> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = portOf(url);
  const record: ValidationRecord = { url: url.href, hostname: host, port: String(port) };
  const dialed = await dial(ctx, { host, port, record, deniedType });
  if (!dialed.socket) return { records: dialed.records, problem: dialed.problem };
  const where = `${url.href} (${dialed.records.at(-1)?.addressUsed})`;
  let socket: net.Socket = dialed.socket;
  try {
    if (url.protocol === "https:") socket = await startTls(ctx, socket, host);
  } catch (err) {
    socket.destroy();
    return { records: dialed.records, problem: problemData("tls", `TLS handshake with ${where} failed: ${describeNetError(err)}`) };
  }
  try {
    return { records: dialed.records, response: await get(ctx, socket, url) };
  } catch (err) {
    const why = err instanceof DeadlineError || ctx.signal.aborted ? "Timeout after connect (your server may be slow or overloaded)" : describeNetError(err);
    return { records: dialed.records, problem: connectionProblem(`Error getting validation data from ${where}: ${why}`) };
  } finally {
    socket.destroy();
  }
}

/** https redirect targets: the certificate is not verified (RFC 8555 §8.3 leaves it to the VA;
 *  the proof is the body, and test servers rarely have trusted certificates). */
function startTls(ctx: VAContext, socket: net.Socket, host: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: net.isIP(host) ? undefined : host,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    const abort = () => secure.destroy(new DeadlineError());
    ctx.signal.addEventListener("abort", abort, { once: true });
    secure.once("secureConnect", () => {
      ctx.signal.removeEventListener("abort", abort);
      resolve(secure);
    });
    secure.once("error", (err) => {
      ctx.signal.removeEventListener("abort", abort);
      reject(err);
    });
  });
}

function get(ctx: VAContext, socket: net.Socket, url: URL): Promise<Fetched> {
  const max = ctx.config.maxBodyBytes;
  return new Promise<Fetched>((resolve, reject) => {
    const request = http.request({
      createConnection: () => socket,
      method: "GET",
      path: url.pathname + url.search,
      headers: { Host: url.host, "User-Agent": "Anvil-VA (ACME validation)", Accept: "*/*", Connection: "close" },
    });
    const abort = () => request.destroy(new DeadlineError());
    ctx.signal.addEventListener("abort", abort, { once: true });
    const settle = (fn: () => void) => {
      ctx.signal.removeEventListener("abort", abort);
      fn();
    };
    request.once("error", (err) => settle(() => reject(err)));
    request.once("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (oversize: boolean) =>
        settle(() => {
          const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
          resolve({ status: res.statusCode ?? 0, location, body: Buffer.concat(chunks), oversize });
        });
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          finish(true); // no need to read the rest
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.once("end", () => finish(false));
      res.once("error", (err) => settle(() => reject(err)));
    });
    request.end();
  });
}
