// A lean ACME client for load: keep-alive HTTPS, ES256 JWS signed directly with node:crypto, the
// nonce from each response reused for the next request, every request timed by kind. Unlike the test
// client it never tampers with requests; it only has to be cheap, so the server is what gets measured.
import { createECDH, createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Recorder } from "./stats.js";

export const ACME_ERR = "urn:ietf:params:acme:error:";

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export type Http = (method: string, url: string, body?: string, headers?: Record<string, string>) => Promise<HttpResponse>;

/** One keep-alive agent for every worker: connections are reused as real clients do. */
export function createHttp(opts: { ca?: string; timeoutMs?: number } = {}): { http: Http; close(): void } {
  const agentOpts = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 };
  const httpsAgent = new HttpsAgent({ ...agentOpts, ca: opts.ca });
  const httpAgent = new HttpAgent(agentOpts);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const http: Http = (method, url, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const tls = u.protocol === "https:";
      const req = (tls ? httpsRequest : httpRequest)(
        u,
        { method, headers, agent: tls ? httpsAgent : httpAgent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error(`timeout after ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      req.end(body);
    });
  return { http, close: () => (httpsAgent.destroy(), httpAgent.destroy()) };
}

/** A failed step: `type` is the problem type without the ACME prefix, or a generator-side label. */
export class FlowError extends Error {
  constructor(readonly type: string, message: string) {
    super(message);
  }
}

export function problemType(res: HttpResponse): string {
  try {
    const t = (JSON.parse(res.text) as { type?: unknown }).type;
    if (typeof t === "string") return t.startsWith(ACME_ERR) ? t.slice(ACME_ERR.length) : t;
  } catch {
    // not a problem document
  }
  return `http-${res.status}`;
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export interface AccountKey {
  privateKey: KeyObject;
  jwk: { kty: string; crv: string; x: string; y: string };
  thumbprint: string;
}

/**
 * A fresh P-256 account key. Made with ECDH's key generation and imported, not with generateKeyPairSync and
 * `export()`: that pair can deadlock on Node 20 (bench/csr.ts, makeCsr, says how), and this runs synchronously
 * once per worker.
 */
export function newAccountKey(): AccountKey {
  const ecdh = createECDH("prime256v1");
  const point = ecdh.generateKeys(); // 0x04 ‖ x ‖ y
  const x = b64u(point.subarray(1, 33));
  const y = b64u(point.subarray(33, 65));
  const d = b64u(Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()]).subarray(-32)); // left-padded to 32 bytes
  const privateKey = createPrivateKey({ key: { kty: "EC", crv: "P-256", x, y, d }, format: "jwk" });
  const jwk = { crv: "P-256", kty: "EC", x, y }; // RFC 7638 member order for the thumbprint
  return { privateKey, jwk, thumbprint: b64u(createHash("sha256").update(JSON.stringify(jwk)).digest()) };
}

export interface AcmeReply extends HttpResponse {
  body: any;
}

/** One account's session: its key, kid and nonce. Not for concurrent use (one per worker). */
export class AcmeSession {
  kid: string | null = null;
  private nonce: string | null = null;
  readonly key = newAccountKey();

  constructor(
    readonly http: Http,
    readonly directory: Directory,
    readonly stats: Recorder,
  ) {}

  static async directoryOf(http: Http, url: string): Promise<Directory> {
    const res = await http("GET", url);
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.text.slice(0, 200)}`);
    return JSON.parse(res.text) as Directory;
  }

  private async takeNonce(): Promise<string> {
    if (this.nonce) {
      const n = this.nonce;
      this.nonce = null;
      return n;
    }
    const res = await this.timed("newNonce", () => this.http("HEAD", this.directory.newNonce));
    const n = res.headers["replay-nonce"];
    if (typeof n !== "string") throw new FlowError(`newNonce-${res.status}`, "no Replay-Nonce");
    return n;
  }

  private async timed(kind: string, fn: () => Promise<HttpResponse>): Promise<HttpResponse> {
    const t0 = performance.now();
    const start = this.stats.trace ? Number(process.hrtime.bigint() / 1000n) : 0;
    try {
      return await fn();
    } finally {
      this.stats.latency(kind, performance.now() - t0);
      this.stats.trace?.push({ kind, start, end: Number(process.hrtime.bigint() / 1000n) });
    }
  }

  private jws(url: string, nonce: string, payload: string): string {
    const header = this.kid ? { alg: "ES256", kid: this.kid, nonce, url } : { alg: "ES256", jwk: this.key.jwk, nonce, url };
    const protectedB64 = b64u(JSON.stringify(header));
    const payloadB64 = b64u(payload);
    const sig = sign("sha256", Buffer.from(`${protectedB64}.${payloadB64}`), { key: this.key.privateKey, dsaEncoding: "ieee-p1363" });
    return JSON.stringify({ protected: protectedB64, payload: payloadB64, signature: b64u(sig) });
  }

  /**
   * Signs and POSTs (payload "" = POST-as-GET). badNonce is retried (RFC 8555 §6.5) and counted;
   * any other status outside `ok` throws a FlowError carrying the problem type.
   */
  async post(kind: string, url: string, payload: unknown, ok: number[] = [200], accept?: string): Promise<AcmeReply> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.takeNonce();
      const body = this.jws(url, nonce, payload === "" ? "" : JSON.stringify(payload));
      const headers: Record<string, string> = { "content-type": "application/jose+json" };
      if (accept) headers.accept = accept;
      const res = await this.timed(kind, () => this.http("POST", url, body, headers));
      const next = res.headers["replay-nonce"];
      if (typeof next === "string") this.nonce = next;
      if (ok.includes(res.status)) {
        const json = /json/.test(String(res.headers["content-type"] ?? ""));
        return { ...res, body: json && res.text ? JSON.parse(res.text) : res.text };
      }
      const type = problemType(res);
      if (type === "badNonce" && attempt < 3) {
        this.stats.retried(type);
        continue;
      }
      throw new FlowError(type, `${kind} ${url}: ${res.status} ${res.text.slice(0, 300)}`);
    }
  }

  async register(): Promise<void> {
    const res = await this.post("newAccount", this.directory.newAccount, { termsOfServiceAgreed: true }, [200, 201]);
    const loc = res.headers.location;
    if (typeof loc !== "string") throw new FlowError("no-location", "newAccount without Location");
    this.kid = loc;
  }
}

/** Seconds (or an HTTP date) from Retry-After, as milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(res: HttpResponse): number | undefined {
  const v = res.headers["retry-after"];
  if (typeof v !== "string") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
