// GET /directory (RFC 8555 §7.1.1) and new-nonce (§7.2).
import type { FastifyInstance } from "fastify";
import { malformed } from "../../errors/index.js";
import type { WfeDeps } from "../context.js";
import { paths } from "../linker.js";

export function registerDirectory(app: FastifyInstance, deps: WfeDeps) {
  const { linker, directoryMeta: m } = deps;
  const directory = JSON.stringify({
    newNonce: linker.newNonce(),
    newAccount: linker.newAccount(),
    newOrder: linker.newOrder(),
    revokeCert: linker.revokeCert(),
    keyChange: linker.keyChange(),
    meta: {
      ...(m.termsOfService ? { termsOfService: m.termsOfService } : {}),
      ...(m.website ? { website: m.website } : {}),
      ...(m.caaIdentities.length ? { caaIdentities: m.caaIdentities } : {}),
      externalAccountRequired: m.externalAccountRequired,
    },
  });
  app.get(paths.directory, async (_req, reply) => reply.type("application/json").send(directory));

  // HEAD answers 200 and GET 204 (§7.2); both carry a fresh Replay-Nonce (added for every response)
  // and must not be cached.
  app.route({
    method: ["GET", "HEAD"],
    url: paths.newNonce,
    exposeHeadRoute: false,
    handler: async (req, reply) => reply.code(req.method === "HEAD" ? 200 : 204).header("Cache-Control", "no-store").send(),
  });
  app.post(paths.newNonce, async () => {
    throw malformed("new-nonce is fetched with HEAD or GET", { status: 405, headers: { Allow: "GET, HEAD" } });
  });
}
