// What every route file gets: the RA, links, nonces, and the authenticated-POST pipeline.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Metrics } from "../core/metrics.js";
import type { Account, JsonWebKeyLike } from "../core/types.js";
import { keyInfoFromJwk } from "../core/keys.js";
import type { NonceClaim } from "../core/nonce-claim.js";
import { AcmeError, badNonce, malformed, unauthorized } from "../errors/index.js";
import { checkKey, defaultKeyPolicy, type KeyPolicy } from "../goodkey/index.js";
import type { NonceService } from "../nonce/index.js";
import type { RA } from "../ra/index.js";
import { createKeyCache, decodePayload, parseFlattened, parseProtected, verifySignature, type FlattenedJws, type ProtectedHeader } from "./jws.js";
import type { Linker } from "./linker.js";

export interface WfeDeps {
  ra: RA;
  nonces: NonceService;
  linker: Linker;
  directoryMeta: { termsOfService?: string; website?: string; caaIdentities: string[]; externalAccountRequired: boolean };
  pki: { rootPems: string[]; intermediatePems: string[]; chains(leafDer: Uint8Array): string[] };
  retryAfter: number;
  ordersPerPage: number;
  bodyLimit: number;
  metrics: Metrics;
}

export interface Verified {
  header: ProtectedHeader;
  payload: unknown; // undefined for POST-as-GET
  jws: FlattenedJws;
  jwk: JsonWebKeyLike;
  account?: Account; // set for kid requests
  /** the request's nonce: redeemed, or (with `carry`) possibly still pending, for the RA's first read to carry */
  nonce: NonceClaim;
}

const JOSE = "application/jose+json";

/** Account keys may also be P-521, since ES512 is an accepted JWS algorithm (RFC 8555 §6.2). */
const ACCOUNT_KEY_POLICY: KeyPolicy = { ...defaultKeyPolicy, ecdsaCurves: ["P-256", "P-384", "P-521"] };

export function checkAccountKey(jwk: JsonWebKeyLike): void {
  let info;
  try {
    info = keyInfoFromJwk(jwk);
  } catch (err) {
    throw new AcmeError("badPublicKey", `the JWK is not a usable public key: ${(err as Error).message}`);
  }
  checkKey(info, ACCOUNT_KEY_POLICY);
}

export function createAuthenticator(deps: WfeDeps) {
  const { ra, nonces, linker } = deps;
  const importKey = createKeyCache();

  /**
   * The whole §6.2–6.4 pipeline for one POST; `need` picks jwk (new account), kid, or either (revoke).
   * With `carry` the nonce may come back unredeemed (PostgreSQL): the route hands it to the RA, whose
   * first read records it (src/sa) before anything changes; the error handler and onSend settle it if
   * nothing did (wfe/index.ts). Without `carry` it is redeemed here, before the route does anything.
   */
  return async function authenticate(req: FastifyRequest, need: "jwk" | "kid" | "either", opts: { carry?: boolean } = {}): Promise<Verified> {
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (contentType !== JOSE) throw malformed(`the Content-Type must be ${JOSE}`, { status: 415 });
    if (typeof req.body !== "string" || req.body.length === 0) throw malformed("the request has no body");
    const jws = parseFlattened(req.body);
    const header = parseProtected(jws, need);
    let jwk: JsonWebKeyLike;
    let account: Account | undefined;
    if (header.jwk) {
      jwk = header.jwk;
      checkAccountKey(jwk);
    } else {
      const id = linker.accountIdFromKid(header.kid!);
      account = id === undefined ? undefined : await ra.accountForKid(id);
      if (!account) throw new AcmeError("accountDoesNotExist", `no account is known by the "kid" ${JSON.stringify(header.kid)}`);
      jwk = account.jwk;
    }
    await verifySignature(jws, header.alg, jwk, importKey);
    const nonce = nonces.claim(header.nonce!);
    if (!nonce) {
      deps.metrics.nonceRejected();
      throw badNonce();
    }
    req.nonceClaim = nonce; // a refusal found later is counted by the error handler
    if (!opts.carry) await nonce.settle();
    if (header.url !== linker.requestUrl(req.url)) {
      throw unauthorized(`the JWS "url" ${JSON.stringify(header.url)} does not match the request URL ${linker.requestUrl(req.url)}`);
    }
    if (account) {
      req.accountId = account.id; // for the request's log line
      ra.requireValid(account);
    }
    return { header, payload: decodePayload(jws), jws, jwk, account, nonce };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;

/** Sends a JSON resource with the usual ACME headers. */
export function sendJson(reply: FastifyReply, status: number, body: unknown, headers: Record<string, string | string[]> = {}) {
  reply.code(status);
  for (const [k, v] of Object.entries(headers)) addHeader(reply, k, v);
  return reply.type("application/json").send(JSON.stringify(body));
}

/** Adds a header, keeping earlier values (several Link headers may be sent). */
export function addHeader(reply: FastifyReply, name: string, value: string | string[]) {
  const existing = reply.getHeader(name);
  const values = Array.isArray(value) ? value : [value];
  if (existing === undefined) reply.header(name, values.length === 1 ? values[0] : values);
  else reply.header(name, [...(Array.isArray(existing) ? existing : [String(existing)]), ...values]);
}

export const link = (url: string, rel: string) => `<${url}>;rel="${rel}"`;

export function methodNotAllowed(): never {
  throw malformed("this resource is only available by POST (POST-as-GET for reads, RFC 8555 §6.3)", { status: 405 });
}
