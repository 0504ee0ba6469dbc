// The web front end as a Fastify plugin: raw JWS bodies, one error → problem mapping, the headers
// every ACME response carries (Replay-Nonce, Link rel="index"), and one route file per resource.
import type { FastifyError, FastifyInstance } from "fastify";
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
  }
}
export { createLinker, type Linker } from "./linker.js";

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
    reply.header("Replay-Nonce", nonces.issue());
    if (req.url !== "/directory") addHeader(reply, "Link", link(linker.directory(), "index"));
    reply.header("Cache-Control", reply.getHeader("Cache-Control") ?? "no-store");
    return payload;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const known = err instanceof AcmeError ? err : fromFastifyError(err);
    const problem = toProblem(known ?? err);
    if (problem.unexpected) req.log.error({ err }, "request failed");
    else if (problem.status >= 500) req.log.warn({ err }, "request failed");
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
