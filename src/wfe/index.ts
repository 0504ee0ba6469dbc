// The web front end as a Fastify plugin: raw JWS bodies, one error → problem mapping, the headers
// every ACME response carries (Replay-Nonce, Link rel="index"), and one route file per resource.
import type { FastifyError, FastifyInstance } from "fastify";
import type { NonceClaim } from "../core/nonce-claim.js";
import { AcmeError, toProblem } from "../errors/index.js";
import { addHeader, createAuthenticator, link, type WfeDeps } from "./context.js";
import { registerAccount } from "./routes/account.js";
import { registerAuthz } from "./routes/authz.js";
import { registerCertificate } from "./routes/certificate.js";
import { registerDirectory } from "./routes/directory.js";
import { registerOrder } from "./routes/order.js";

export type { WfeDeps } from "./context.js";

declare module "fastify" {
  interface FastifyRequest {
    /** the account that signed the request, once authenticated */
    accountId?: string;
    /** the request's nonce once its signature verified; settled before any answer (see onSend, the error handler) */
    nonceClaim?: NonceClaim;
  }
}
export { createLinker, type Linker } from "./linker.js";
export { createClientErrorHandler } from "./client-error.js";

/** Fastify's own client errors (body too large, bad content type…) as ACME problems. */
function fromFastifyError(err: FastifyError): AcmeError | undefined {
  const status = err.statusCode ?? 500;
  if (status >= 500) return undefined;
  const detail = err.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "the request body is too large" : err.message;
  return new AcmeError("malformed", detail, { status });
}

export async function wfePlugin(app: FastifyInstance, deps: WfeDeps): Promise<void> {
  const { linker, nonces } = deps;

  // JWS bodies are kept as text: the signature covers the exact bytes, and the content type is
  // checked by the authenticator so that a wrong one is a malformed problem, not a parser error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string", bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));

  app.addHook("onSend", async (req, reply, payload) => {
    // a nonce no statement carried is redeemed before a successful answer leaves (errors: the error handler)
    if (req.nonceClaim && !req.nonceClaim.redeemed && reply.statusCode < 400) await req.nonceClaim.settle();
    reply.header("Replay-Nonce", nonces.issue());
    if (req.url !== "/directory") addHeader(reply, "Link", link(linker.directory(), "index"));
    reply.header("Cache-Control", reply.getHeader("Cache-Control") ?? "no-store");
    return payload;
  });

  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    let failure: Error = err;
    const claim = req.nonceClaim;
    // A request that fails still uses up its nonce (and a nonce used before makes it a badNonce); if the
    // store cannot be reached the original failure stands (e.g. 503).
    if (claim && !claim.redeemed) {
      try {
        await claim.settle();
      } catch (e) {
        if (claim.state === "refused") failure = e as Error;
      }
    }
    if (claim?.state === "refused") {
      deps.metrics.nonceRejected();
      for (const h of ["Location", "Link", "Retry-After"]) reply.removeHeader(h); // set by a route that then lost its nonce
    }
    const known = failure instanceof AcmeError ? failure : fromFastifyError(failure as FastifyError);
    const problem = toProblem(known ?? failure);
    if (problem.unexpected) req.log.error({ err: failure }, "request failed");
    else if (problem.status >= 500) req.log.warn({ err: failure }, "request failed");
    reply.code(problem.status);
    for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
    return reply.type("application/problem+json").send(JSON.stringify(problem.body));
  });

  app.setNotFoundHandler(async (req) => {
    throw new AcmeError("malformed", `no resource at ${req.method} ${req.url}`, { status: 404 });
  });

  const authenticate = createAuthenticator(deps);
  registerDirectory(app, deps);
  registerAccount(app, deps, authenticate);
  registerOrder(app, deps, authenticate);
  registerAuthz(app, deps, authenticate);
  registerCertificate(app, deps, authenticate);
}
