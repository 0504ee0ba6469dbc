// new-account (§7.3), the account URL (update, deactivation: §7.3.2, §7.3.6), the orders list
// (§7.1.2.1) and key-change (§7.3.5).
import type { FastifyInstance } from "fastify";
import type { JsonWebKeyLike } from "../../core/types.js";
import { malformed, unauthorized } from "../../errors/index.js";
import { KeyInUseError } from "../../ra/index.js";
import { checkAccountKey, link, methodNotAllowed, sendJson, type Authenticate, type WfeDeps } from "../context.js";
import { decodePayload, parseFlattened, parseProtected, verifySignature } from "../jws.js";
import { paths } from "../linker.js";
import { accountView } from "../views.js";

export function registerAccount(app: FastifyInstance, deps: WfeDeps, authenticate: Authenticate) {
  const { ra, linker } = deps;

  app.post(paths.newAccount, async (req, reply) => {
    const { jwk, payload } = await authenticate(req, "jwk");
    const { account, created } = await ra.newAccount(jwk, payload, req.ip);
    return sendJson(reply, created ? 201 : 200, accountView(account, linker), { Location: linker.account(account.id) });
  });

  app.post<{ Params: { id: string } }>(paths.account, async (req, reply) => {
    const { account, payload } = await authenticate(req, "kid");
    if (account!.id !== req.params.id) throw unauthorized("the account URL does not match the signing account");
    const updated = await ra.updateAccount(account!, payload);
    return sendJson(reply, 200, accountView(updated, linker), { Location: linker.account(updated.id) });
  });

  app.post<{ Params: { id: string }; Querystring: { cursor?: string } }>(paths.accountOrders, async (req, reply) => {
    const { account } = await authenticate(req, "kid");
    if (account!.id !== req.params.id) throw unauthorized("only the account itself may list its orders");
    const page = await ra.listOrders(account!, req.query.cursor, deps.ordersPerPage);
    const headers: Record<string, string> = {};
    if (page.next) headers.Link = link(`${linker.accountOrders(account!.id)}?cursor=${encodeURIComponent(page.next)}`, "next");
    return sendJson(reply, 200, { orders: page.ids.map((id) => linker.order(id)) }, headers);
  });

  app.post(paths.keyChange, async (req, reply) => {
    const outer = await authenticate(req, "kid");
    const account = outer.account!;
    if (outer.payload === undefined) throw malformed("key-change needs a payload: the inner JWS signed by the new key");
    // §7.3.5: the payload is a JWS signed by the new key, with "jwk", the same "url", and no nonce needed
    const inner = parseFlattened(JSON.stringify(outer.payload));
    const innerHeader = parseProtected(inner, "jwk", { nonce: false });
    const newJwk = innerHeader.jwk as JsonWebKeyLike;
    checkAccountKey(newJwk);
    await verifySignature(inner, innerHeader.alg, newJwk);
    if (innerHeader.url !== outer.header.url) throw malformed('the inner JWS "url" must equal the outer JWS "url"');
    const body = decodePayload(inner);
    if (typeof body !== "object" || body === null) throw malformed('the inner payload must be {"account": ..., "oldKey": ...}');
    const { account: accountUrl, oldKey } = body as { account?: unknown; oldKey?: unknown };
    if (accountUrl !== outer.header.kid) throw unauthorized('the inner payload\'s "account" must be the outer "kid"');
    let updated;
    try {
      updated = await ra.changeKey(account, oldKey, newJwk);
    } catch (err) {
      if (err instanceof KeyInUseError) reply.header("Location", linker.account(err.accountId));
      throw err;
    }
    return sendJson(reply, 200, accountView(updated, linker), { Location: linker.account(updated.id) });
  });

  for (const p of [paths.newAccount, paths.account, paths.accountOrders, paths.keyChange]) app.get(p, methodNotAllowed);
}
