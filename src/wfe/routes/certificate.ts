// Certificate download (§7.4.2) with alternate chains, revocation (§7.6), and the CA certificates
// at Pebble's paths (/roots/0, /intermediates/0) so client test suites find them.
import { X509Certificate } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { canonicalSerial } from "../../core/ids.js";
import { spkiFromJwk } from "../../core/keys.js";
import { malformed, notFound } from "../../errors/index.js";
import { link, methodNotAllowed, type Authenticate, type WfeDeps } from "../context.js";
import { decodeB64url } from "../jws.js";
import { paths } from "../linker.js";

const PEM_CHAIN = "application/pem-certificate-chain";

export function registerCertificate(app: FastifyInstance, deps: WfeDeps, authenticate: Authenticate) {
  const { ra, linker, pki } = deps;

  async function download(req: Parameters<Authenticate>[0], id: string, alt: number) {
    const { account, nonce } = await authenticate(req, "kid", { carry: true });
    const cert = await ra.getCertificate(account!, id, nonce);
    const chains = pki.chains(cert.der);
    const chain = chains[alt];
    if (chain === undefined) throw notFound("certificate chain");
    const links = chains.map((_, i) => i).filter((i) => i !== alt).map((i) => link(i === 0 ? linker.certificate(id) : linker.certificateAlt(id, i), "alternate"));
    return { chain, links };
  }

  app.post<{ Params: { id: string } }>(paths.certificate, async (req, reply) => {
    const { chain, links } = await download(req, req.params.id, 0);
    if (links.length) reply.header("Link", links);
    return reply.type(PEM_CHAIN).send(chain);
  });
  app.post<{ Params: { id: string; alt: string } }>(paths.certificateAlt, async (req, reply) => {
    const alt = /^[1-9]\d{0,2}$/.test(req.params.alt) ? Number(req.params.alt) : -1;
    if (alt < 0) throw notFound("certificate chain");
    const { chain, links } = await download(req, req.params.id, alt);
    if (links.length) reply.header("Link", links);
    return reply.type(PEM_CHAIN).send(chain);
  });

  app.post(paths.revokeCert, async (req, reply) => {
    const { account, payload, jwk } = await authenticate(req, "either");
    if (typeof payload !== "object" || payload === null || typeof (payload as { certificate?: unknown }).certificate !== "string") {
      throw malformed('the revocation payload must be {"certificate": "<base64url DER>", "reason": <int>}');
    }
    const { certificate, reason } = payload as { certificate: string; reason?: unknown };
    const der = new Uint8Array(decodeB64url(certificate, "the certificate"));
    let serial: string;
    try {
      serial = canonicalSerial(new X509Certificate(der).serialNumber);
    } catch {
      throw malformed("the certificate is not a DER X.509 certificate");
    }
    const auth = account
      ? { kind: "account" as const, account }
      : { kind: "certificateKey" as const, spki: spkiFromJwk(jwk) };
    await ra.revoke(der, serial, reason, auth);
    return reply.code(200).send();
  });

  for (const p of [paths.certificate, paths.certificateAlt, paths.revokeCert]) app.get(p, methodNotAllowed);

  const pem = (list: string[]) => async (req: { params: { n: string } }, reply: import("fastify").FastifyReply) => {
    const body = /^\d+$/.test(req.params.n) ? list[Number(req.params.n)] : undefined;
    if (body === undefined) throw notFound("certificate");
    return reply.type("application/pem-certificate-chain").send(body);
  };
  app.get<{ Params: { n: string } }>(paths.root, pem(pki.rootPems));
  app.get<{ Params: { n: string } }>(paths.intermediate, pem(pki.intermediatePems));
}
