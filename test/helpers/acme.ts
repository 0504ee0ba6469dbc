// A small ACME client for integration tests. It signs real JWS (jose) and lets a test change any
// part of a request — protected header, payload bytes, body shape, content type, signing key — to
// exercise the server's checks. Responses never throw on 4xx/5xx; the caller asserts on them.
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  KeyObject,
  type JsonWebKey,
  sign as nodeSign,
  webcrypto,
} from "node:crypto";
import { createServer } from "node:http";
import { isIP, type AddressInfo } from "node:net";
import { promisify } from "node:util";
import { base64url, calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from "jose";
import * as x509 from "@peculiar/x509";
import { fetchTransport, nodeTransport, parseLinks, type Transport } from "./tools.js";

export { parseLinks, type Transport };

export type JwsAlg = "ES256" | "RS256" | "PS256" | "ES384" | "ES512" | "EdDSA";
export const JWS_ALGS: JwsAlg[] = ["ES256", "RS256", "PS256", "ES384", "ES512", "EdDSA"];

export interface AcmeKey {
  alg: JwsAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JWK; // public members only
  thumbprint: string; // RFC 7638, base64url SHA-256
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
  header?: Record<string, unknown>;
}

export interface AcmeResponse {
  status: number;
  headers: Headers;
  body: any; // parsed JSON when the response is JSON, else the text
  text: string;
  location: string | null;
  links(rel: string): string[];
}

export interface PostOptions {
  key?: AcmeKey; // signing key; default the account key
  useJwk?: boolean; // embed `jwk` instead of `kid`; default: true until the account has a kid
  protected?: Record<string, unknown>; // merged over the generated header; `undefined` removes a field
  nonce?: string; // shortcut for protected.nonce
  payloadRaw?: string; // the exact payload bytes (before base64url) instead of JSON.stringify(payload)
  tamper?: (jws: FlattenedJws) => unknown; // reshape the signed body; a string result is sent as-is
  contentType?: string; // default application/jose+json
  headers?: Record<string, string>;
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  meta?: Record<string, unknown>;
  [k: string]: unknown;
}

const HASH: Record<JwsAlg, string | null> = {
  ES256: "sha256", ES384: "sha384", ES512: "sha512", RS256: "sha256", PS256: "sha256", EdDSA: null,
};

export async function generateAccountKey(alg: JwsAlg = "ES256"): Promise<AcmeKey> {
  const gen = promisify(generateKeyPair) as (type: string, opts: object) => Promise<{ privateKey: KeyObject }>;
  const curves: Partial<Record<JwsAlg, string>> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };
  const { privateKey } = curves[alg]
    ? await gen("ec", { namedCurve: curves[alg] })
    : alg === "EdDSA"
      ? await gen("ed25519", {})
      : await gen("rsa", { modulusLength: 2048 });
  return keyFromPrivate(privateKey, alg);
}

/** An AcmeKey from a PEM private key (e.g. one written by certbot, lego or acme-client). */
export async function keyFromPem(pem: string | Buffer, alg?: JwsAlg): Promise<AcmeKey> {
  const privateKey = createPrivateKey(pem);
  return keyFromPrivate(privateKey, alg ?? algOf(privateKey));
}

/** An AcmeKey from a private JWK (certbot keeps its account key as one in private_key.json). */
export async function keyFromJwk(jwk: JsonWebKey, alg?: JwsAlg): Promise<AcmeKey> {
  const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
  return keyFromPrivate(privateKey, alg ?? algOf(privateKey));
}

function algOf(key: KeyObject): JwsAlg {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === "ec") {
    const byCurve: Record<string, JwsAlg> = { prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" };
    if (curve && byCurve[curve]) return byCurve[curve];
  }
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ed25519") return "EdDSA";
  throw new Error(`unsupported key type ${key.asymmetricKeyType} ${curve ?? ""}`);
}

async function keyFromPrivate(privateKey: KeyObject, alg: JwsAlg): Promise<AcmeKey> {
  const publicKey = createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, publicKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, "sha256") };
}

/** Signs a flattened JWS. jose signs when the header is ordinary; a header that lies about `alg`
 * (or that jose refuses) is signed by node:crypto with the key's real algorithm, so the server's
 * own checks, not the client library, decide what happens. */
export async function signJws(key: AcmeKey, header: Record<string, unknown>, payload: string): Promise<FlattenedJws> {
  const bytes = new TextEncoder().encode(payload);
  if (header.alg === key.alg && !("crit" in header) && !("b64" in header)) {
    const jws = await new FlattenedSign(bytes).setProtectedHeader(header).sign(key.privateKey);
    return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
  }
  const protectedB64 = base64url.encode(JSON.stringify(header));
  const payloadB64 = base64url.encode(bytes);
  const input = Buffer.from(`${protectedB64}.${payloadB64}`);
  const sig =
    key.alg === "PS256"
      ? nodeSign("sha256", input, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : nodeSign(HASH[key.alg], input, { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return { protected: protectedB64, payload: payloadB64, signature: base64url.encode(sig) };
}

export function compactJws(jws: FlattenedJws): string {
  return `${jws.protected}.${jws.payload}.${jws.signature}`;
}

export function identifiersOf(names: string[]): Array<{ type: "dns" | "ip"; value: string }> {
  return names.map((value) => ({ type: isIP(value) ? "ip" : "dns", value }));
}

export class TestAcme {
  kid: string | null = null;
  lastNonce: string | null = null;

  private constructor(
    readonly directory: Directory,
    readonly directoryUrl: string,
    public key: AcmeKey,
    readonly transport: Transport,
  ) {}

  static async create(
    directoryUrl: string,
    opts: { alg?: JwsAlg; key?: AcmeKey; kid?: string; ca?: string; fetchImpl?: typeof fetch } = {},
  ): Promise<TestAcme> {
    const transport = opts.fetchImpl ? fetchTransport(opts.fetchImpl) : nodeTransport(opts.ca);
    const res = await transport(directoryUrl, { method: "GET", headers: {} });
    if (res.status !== 200) throw new Error(`GET ${directoryUrl}: ${res.status} ${res.text}`);
    const key = opts.key ?? (await generateAccountKey(opts.alg ?? "ES256"));
    const client = new TestAcme(JSON.parse(res.text) as Directory, directoryUrl, key, transport);
    client.kid = opts.kid ?? null;
    return client;
  }

  /** A plain request (GET/HEAD, or anything unsigned); remembers Replay-Nonce. */
  async request(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<AcmeResponse> {
    const res = await this.transport(url, { method, headers, body });
    const nonce = res.headers.get("replay-nonce");
    if (nonce) this.lastNonce = nonce;
    const isJson = /json/.test(res.headers.get("content-type") ?? "");
    let parsed: unknown = res.text;
    if (isJson && res.text) parsed = JSON.parse(res.text);
    return {
      status: res.status,
      headers: res.headers,
      body: parsed,
      text: res.text,
      location: res.headers.get("location"),
      links: (rel) => parseLinks(res.headers, rel).map((l) => new URL(l, url).toString()),
    };
  }

  async newNonce(): Promise<string> {
    const res = await this.request("HEAD", this.directory.newNonce);
    const nonce = res.headers.get("replay-nonce");
    if (!nonce) throw new Error(`no Replay-Nonce from ${this.directory.newNonce} (${res.status})`);
    return nonce;
  }

  /** Signs and POSTs `payload` ("" = POST-as-GET). Never throws on an ACME error response. */
  async post(url: string, payload: unknown, opts: PostOptions = {}): Promise<AcmeResponse> {
    const key = opts.key ?? this.key;
    const nonce = opts.nonce ?? (await this.takeNonce());
    const useJwk = opts.useJwk ?? this.kid === null;
    const header: Record<string, unknown> = { alg: key.alg, nonce, url, ...(useJwk ? { jwk: key.jwk } : { kid: this.kid }) };
    for (const [k, v] of Object.entries(opts.protected ?? {})) {
      if (v === undefined) delete header[k];
      else header[k] = v;
    }
    const raw = opts.payloadRaw ?? (payload === "" ? "" : JSON.stringify(payload));
    const jws = await signJws(key, header, raw);
    const shaped = opts.tamper ? opts.tamper(jws) : jws;
    const body = typeof shaped === "string" ? shaped : JSON.stringify(shaped);
    return this.request("POST", url, body, {
      "content-type": opts.contentType ?? "application/jose+json",
      ...opts.headers,
    });
  }

  private async takeNonce(): Promise<string> {
    const nonce = this.lastNonce ?? (await this.newNonce());
    this.lastNonce = null;
    return nonce;
  }

  /** post() that retries once on badNonce, as RFC 8555 §6.5 asks clients to. */
  private async postRetry(url: string, payload: unknown, opts: PostOptions = {}): Promise<AcmeResponse> {
    const res = await this.post(url, payload, opts);
    if (res.status === 400 && res.body?.type === "urn:ietf:params:acme:error:badNonce") return this.post(url, payload, opts);
    return res;
  }

  async newAccount(payload: Record<string, unknown> = { termsOfServiceAgreed: true }, opts: PostOptions = {}) {
    const res = await this.postRetry(this.directory.newAccount, payload, { useJwk: true, ...opts });
    if ((res.status === 200 || res.status === 201) && res.location && !opts.key) this.kid = res.location;
    return res;
  }

  newOrder(names: string[], extra: Record<string, unknown> = {}, opts: PostOptions = {}) {
    return this.postRetry(this.directory.newOrder, { identifiers: identifiersOf(names), ...extra }, opts);
  }

  authz(url: string) {
    return this.postRetry(url, "");
  }

  respond(challengeUrl: string) {
    return this.postRetry(challengeUrl, {});
  }

  finalize(order: { finalize: string }, csrDer: Uint8Array, opts: PostOptions = {}) {
    return this.postRetry(order.finalize, { csr: base64url.encode(csrDer) }, opts);
  }

  /** POST-as-GET a certificate URL; the body is the PEM chain. */
  certificate(url: string) {
    return this.postRetry(url, "", { headers: { accept: "application/pem-certificate-chain" } });
  }

  /** Polls `url` with POST-as-GET until `until` holds for the body (or a status in the list). */
  async poll(
    url: string,
    until: string[] | ((body: any) => boolean),
    opts: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<AcmeResponse> {
    const done = Array.isArray(until) ? (b: any) => until.includes(b?.status) : until;
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      const res = await this.postRetry(url, "");
      if (done(res.body)) return res;
      if (Date.now() > deadline) throw new Error(`poll ${url}: gave up at ${res.status} ${res.text}`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
    }
  }

  /** Key rollover (RFC 8555 §7.3.5); on success the client signs with `newKey` from then on. */
  async keyChange(
    newKey: AcmeKey,
    opts: { innerProtected?: Record<string, unknown>; innerPayload?: Record<string, unknown>; outer?: PostOptions } = {},
  ): Promise<AcmeResponse> {
    const url = this.directory.keyChange;
    const innerHeader = { alg: newKey.alg, jwk: newKey.jwk, url, ...opts.innerProtected };
    const innerPayload = opts.innerPayload ?? { account: this.kid, oldKey: this.key.jwk };
    const inner = await signJws(newKey, innerHeader, JSON.stringify(innerPayload));
    const res = await this.postRetry(url, inner, opts.outer);
    if (res.status === 200) this.key = newKey;
    return res;
  }

  /** revokeCert, signed by the account (default) or by `opts.key` (the certificate's key, as jwk). */
  revoke(certDer: Uint8Array, reason?: number, opts: PostOptions = {}) {
    const payload = { certificate: base64url.encode(certDer), ...(reason === undefined ? {} : { reason }) };
    return this.postRetry(this.directory.revokeCert, payload, opts.key ? { useJwk: true, ...opts } : opts);
  }

  keyAuthorization(token: string): string {
    return `${token}.${this.key.thumbprint}`;
  }

  /**
   * The whole happy path: order, http-01 for each authorization through `responder`, finalize,
   * download. Throws with the server's answer at the first step that does not succeed.
   */
  async issue(names: string[], responder: Http01Responder, csrAlg: CsrKeyAlg = "ES256") {
    const order = await this.newOrder(names);
    if (order.status !== 201) throw new Error(`newOrder: ${order.status} ${order.text}`);
    for (const authzUrl of order.body.authorizations as string[]) {
      const authz = await this.authz(authzUrl);
      if (authz.body.status === "valid") continue;
      const chall = (authz.body.challenges as Array<{ type: string; url: string; token: string }>).find(
        (c) => c.type === "http-01",
      );
      if (!chall) throw new Error(`no http-01 challenge in ${authz.text}`);
      responder.set(chall.token, this.keyAuthorization(chall.token));
      const r = await this.respond(chall.url);
      if (r.status !== 200) throw new Error(`respond: ${r.status} ${r.text}`);
      const done = await this.poll(authzUrl, ["valid", "invalid"]);
      if (done.body.status !== "valid") throw new Error(`authz ${authzUrl}: ${done.text}`);
    }
    const orderUrl = order.location!;
    await this.poll(orderUrl, ["ready", "invalid"]);
    const csr = await makeCsr(names, csrAlg);
    const fin = await this.finalize(order.body, csr.der);
    if (fin.status !== 200) throw new Error(`finalize: ${fin.status} ${fin.text}`);
    const valid = await this.poll(orderUrl, ["valid", "invalid"]);
    if (valid.body.status !== "valid") throw new Error(`order ${orderUrl}: ${valid.text}`);
    const cert = await this.certificate(valid.body.certificate);
    if (cert.status !== 200) throw new Error(`certificate: ${cert.status} ${cert.text}`);
    return { orderUrl, order: valid.body, csr, certResponse: cert, certPem: cert.text };
  }

  csr(names: string[], keyAlg: CsrKeyAlg = "ES256") {
    return makeCsr(names, keyAlg);
  }
}

export type CsrKeyAlg = "ES256" | "ES384" | "RS256";

const CSR_ALGS: Record<CsrKeyAlg, { gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams; sign: { name: string; hash?: string } }> = {
  ES256: { gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  ES384: { gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } },
  RS256: {
    gen: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  },
};

/** A CSR for `names` (CN = first name, all names in the SAN) with a fresh key. */
export async function makeCsr(names: string[], keyAlg: CsrKeyAlg = "ES256", opts: { cn?: string | null } = {}) {
  const alg = CSR_ALGS[keyAlg];
  const keys = (await webcrypto.subtle.generateKey(alg.gen, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cn = opts.cn === undefined ? names[0] : opts.cn;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cn ? `CN=${cn}` : undefined,
    keys,
    signingAlgorithm: alg.sign,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? "ip" : "dns", value: n }))),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { der: new Uint8Array(csr.rawData), pem: csr.toString("pem"), keys, privateKeyPem };
}

export interface Http01Responder {
  port: number;
  set(token: string, keyAuthorization: string): void;
  delete(token: string): void;
  requests: Array<{ host: string | undefined; path: string }>; // what the validator asked for
  close(): Promise<void>;
}

/** Serves /.well-known/acme-challenge/<token> from a map on loopback (port 0 = ephemeral). */
export function startHttp01Responder(opts: { host?: string; port?: number } = {}): Promise<Http01Responder> {
  const tokens = new Map<string, string>();
  const requests: Http01Responder["requests"] = [];
  const prefix = "/.well-known/acme-challenge/";
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    requests.push({ host: req.headers.host, path });
    const value = path.startsWith(prefix) ? tokens.get(path.slice(prefix.length)) : undefined;
    res.writeHead(value === undefined ? 404 : 200, { "content-type": "text/plain" });
    res.end(value ?? "not found");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        set: (t, v) => void tokens.set(t, v),
        delete: (t) => void tokens.delete(t),
        requests,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
