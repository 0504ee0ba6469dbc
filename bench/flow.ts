// One complete issuance, as an ACME client does it: new-order, authorizations, http-01, polling,
// finalize with a fresh key, polling, download, and optionally revocation.
import { randomBytes } from "node:crypto";
import { AcmeSession, FlowError, retryAfterMs, type AcmeReply } from "./client.js";
import { makeCsr } from "./csr.js";
import { startPeer, type Peer } from "./peer.js";

export interface FlowOptions {
  domain: string; // names are <account label>-<random>.<domain>
  namesPerOrder: number;
  pollCapMs: number; // Retry-After is honoured up to this
  pollTimeoutMs: number;
  revoke: boolean;
}

/** The http-01 responder: answers the key authorizations of the accounts registered with `account`, `served` counts 200s. */
export type Responder = Peer;

/** The http-01 responder every worker shares, on the port the server validates against, on a thread of its own (peer-worker.ts). */
export function startResponder(port = 0, host = "127.0.0.1"): Promise<Responder> {
  return startPeer("http-01", port, host);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh DNS label: 12 random hex digits. */
function randomLabel(): string {
  return randomBytes(8).toString("hex").slice(0, 12);
}

interface Challenge {
  type: string;
  url: string;
  token: string;
}

/** Polls with POST-as-GET until the status is one of `done`; waits min(Retry-After, cap) between polls. */
async function poll(s: AcmeSession, kind: string, url: string, first: AcmeReply, done: string[], opts: FlowOptions): Promise<AcmeReply> {
  const deadline = performance.now() + opts.pollTimeoutMs;
  let last = first;
  while (!done.includes(last.body?.status)) {
    if (performance.now() > deadline) throw new FlowError(`${kind}-timeout`, `${url} still ${last.body?.status}`);
    await sleep(Math.min(retryAfterMs(last) ?? opts.pollCapMs, opts.pollCapMs));
    last = await s.post(kind, url, "");
  }
  return last;
}

/** Each session's label at each responder: its names start with it, so the responder knows whose key authorization to serve. */
const labels = new WeakMap<Responder, WeakMap<AcmeSession, Promise<string>>>();
function labelOf(s: AcmeSession, responder: Responder): Promise<string> {
  let bySession = labels.get(responder);
  if (!bySession) labels.set(responder, (bySession = new WeakMap()));
  let label = bySession.get(s);
  if (!label) bySession.set(s, (label = responder.account(s.key.thumbprint)));
  return label;
}

/** Runs one issuance; throws FlowError on the first failed step. Returns the PEM chain. */
export async function certificateFlow(s: AcmeSession, responder: Responder, opts: FlowOptions): Promise<string> {
  const label = await labelOf(s, responder);
  const names = Array.from({ length: opts.namesPerOrder }, () => `${label}-${randomLabel()}.${opts.domain}`);
  const identifiers = names.map((value) => ({ type: "dns", value }));
  const order = await s.post("newOrder", s.directory.newOrder, { identifiers }, [201]);
  const orderUrl = order.headers.location;
  if (typeof orderUrl !== "string") throw new FlowError("no-location", "newOrder without Location");

  // Answer every challenge first, then poll each authorization (as certbot and lego do).
  const pending: { url: string; reply: AcmeReply }[] = [];
  for (const authzUrl of order.body.authorizations as string[]) {
    const authz = await s.post("authz", authzUrl, "");
    if (authz.body.status === "valid") continue;
    const chall = (authz.body.challenges as Challenge[]).find((c) => c.type === "http-01");
    if (!chall) throw new FlowError("no-http01", `no http-01 challenge in ${authzUrl}`);
    // the responder already answers this account's key authorizations (labelOf)
    const reply = await s.post("challenge", chall.url, {});
    // A server may answer with the outcome already. A valid challenge makes its authorization valid
    // (RFC 8555 §7.1.6), so there is nothing to poll for; lego reads the answer the same way.
    if (reply.body?.status === "valid") continue;
    pending.push({ url: authzUrl, reply });
  }
  for (const p of pending) {
    // the challenge's reply sets the first wait (its Retry-After); the authorization is then polled
    const start = { ...p.reply, body: { status: "pending" } };
    const done = await poll(s, "pollAuthz", p.url, start, ["valid", "invalid"], opts);
    if (done.body.status !== "valid") {
      const err = (done.body.challenges as Array<{ error?: { type?: string } }> | undefined)?.find((c) => c.error)?.error?.type;
      throw new FlowError(`authz-invalid:${err?.replace(/^urn:ietf:params:acme:error:/, "") ?? "?"}`, done.text.slice(0, 300));
    }
  }

  const csr = await makeCsr(names);
  let fin: AcmeReply;
  try {
    fin = await s.post("finalize", order.body.finalize as string, { csr: csr.der.toString("base64url") });
  } catch (err) {
    // A server may compute "ready" lazily: wait for it, then finalize once more.
    if (!(err instanceof FlowError && err.type === "orderNotReady")) throw err;
    const o = await s.post("pollOrder", orderUrl, "");
    await poll(s, "pollOrder", orderUrl, o, ["ready", "invalid"], opts);
    fin = await s.post("finalize", order.body.finalize as string, { csr: csr.der.toString("base64url") });
  }
  const valid = await poll(s, "pollOrder", orderUrl, fin, ["valid", "invalid"], opts);
  if (valid.body.status !== "valid") throw new FlowError("order-invalid", valid.text.slice(0, 300));

  const cert = await s.post("certificate", valid.body.certificate as string, "", [200], "application/pem-certificate-chain");
  const pem = cert.text;
  const first = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!first) throw new FlowError("no-certificate", "the certificate response holds no PEM certificate");
  if (opts.revoke) {
    const der = Buffer.from(first[1].replace(/\s+/g, ""), "base64");
    await s.post("revoke", s.directory.revokeCert, { certificate: der.toString("base64url"), reason: 4 });
  }
  return pem;
}
