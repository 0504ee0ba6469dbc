// Authorizations (§7.5, deactivation §7.5.2) and challenges (§7.5.1).
import type { FastifyInstance } from "fastify";
import type { Challenge } from "../../core/types.js";
import { link, methodNotAllowed, sendJson, type Authenticate, type WfeDeps } from "../context.js";
import { paths } from "../linker.js";
import { authzView, challengeView } from "../views.js";

export function registerAuthz(app: FastifyInstance, deps: WfeDeps, authenticate: Authenticate) {
  const { ra, linker } = deps;
  // §8.2: while a retry waits, tell the client when the next attempt is due
  const retryAfter = (challenges: Challenge[]) => {
    const next = Math.max(0, ...challenges.filter((c) => c.status === "processing" && c.nextAttempt).map((c) => c.nextAttempt!.getTime() - Date.now()));
    return { "Retry-After": String(Math.max(deps.retryAfter, Math.ceil(next / 1000))) };
  };

  app.post<{ Params: { id: string } }>(paths.authz, async (req, reply) => {
    const { account, payload, nonce } = await authenticate(req, "kid", { carry: true });
    const a = await ra.updateAuthz(account!, req.params.id, payload, nonce);
    const validating = a.status === "pending" && a.challenges.some((c) => c.status === "processing");
    return sendJson(reply, 200, authzView(a, linker), validating ? retryAfter(a.challenges) : {});
  });

  app.post<{ Params: { id: string } }>(paths.challenge, async (req, reply) => {
    const { account, payload, nonce } = await authenticate(req, "kid", { carry: true });
    const { challenge } = await ra.respond(account!, req.params.id, payload, nonce);
    const headers: Record<string, string | string[]> = { Link: link(linker.authz(challenge.authzId), "up") };
    if (challenge.status === "processing") Object.assign(headers, retryAfter([challenge]));
    return sendJson(reply, 200, challengeView(challenge, linker), headers);
  });

  for (const p of [paths.authz, paths.challenge]) app.get(p, methodNotAllowed);
}
