// new-order, the order URL and finalize (RFC 8555 §7.4).
import type { FastifyInstance } from "fastify";
import type { OrderView } from "../../ra/index.js";
import { methodNotAllowed, sendJson, type Authenticate, type WfeDeps } from "../context.js";
import { paths } from "../linker.js";
import { orderView } from "../views.js";

export function registerOrder(app: FastifyInstance, deps: WfeDeps, authenticate: Authenticate) {
  const { ra, linker } = deps;

  const headersFor = (v: OrderView) => {
    const h: Record<string, string> = { Location: linker.order(v.order.id) };
    if (v.order.status === "pending" || v.order.status === "processing") h["Retry-After"] = String(deps.retryAfter);
    return h;
  };

  app.post(paths.newOrder, async (req, reply) => {
    const { account, payload, nonce } = await authenticate(req, "kid", { carry: true });
    const v = await ra.newOrder(account!, payload, nonce);
    return sendJson(reply, 201, orderView(v.order, linker), headersFor(v));
  });

  app.post<{ Params: { id: string } }>(paths.order, async (req, reply) => {
    const { account, nonce } = await authenticate(req, "kid", { carry: true });
    const v = await ra.getOrder(account!, req.params.id, nonce);
    return sendJson(reply, 200, orderView(v.order, linker), headersFor(v));
  });

  app.post<{ Params: { id: string } }>(paths.finalize, async (req, reply) => {
    const { account, payload, nonce } = await authenticate(req, "kid", { carry: true });
    const v = await ra.finalize(account!, req.params.id, payload, nonce);
    return sendJson(reply, 200, orderView(v.order, linker), headersFor(v));
  });

  for (const p of [paths.newOrder, paths.order, paths.finalize]) app.get(p, methodNotAllowed);
}
