// RFC 8555 §6.5: a nonce is good for one request. On PostgreSQL the order, authorization, challenge,
// finalize and certificate routes record their nonce in their first read (a data-modifying CTE, src/sa)
// instead of a separate INSERT; on SQLite nonces are redeemed in memory. Either way a replayed request
// is refused with badNonce and changes nothing, two requests racing with one nonce get one answer, and
// a request that fails still uses up its nonce.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonceClaim } from "../../src/core/nonce-claim.js";
import { makeCsr, type AcmeResponse, type TestAcme } from "../helpers/acme.js";
import { usePostgres } from "../helpers/db.js";
import { ERR, startInProc, type InProc } from "../helpers/inproc.js";

describe("replayed nonces on the issuance routes", () => {
  let env: InProc;
  let client: TestAcme;
  let accountId: string;

  beforeAll(async () => {
    env = await startInProc();
    client = await env.account();
    accountId = client.kid!.split("/").pop()!;
  });
  afterAll(async () => {
    await env?.close();
  });

  /** The same request twice with one nonce (each signed afresh, as an attacker replaying the body would not even need). */
  async function twice(url: string, payload: unknown): Promise<[AcmeResponse, AcmeResponse]> {
    const nonce = await client.newNonce();
    const first = await client.post(url, payload, { nonce });
    const second = await client.post(url, payload, { nonce });
    return [first, second];
  }
  const refused = (r: AcmeResponse) => {
    expect(r.status).toBe(400);
    expect(r.body.type).toBe(ERR("badNonce"));
    expect(r.headers.get("replay-nonce")).toBeTruthy();
    expect(r.headers.get("location")).toBeNull();
  };
  /** Claims of one nonce whose own store (settle() without a carrying statement) counts its calls: the first insert is fresh, later ones refused. */
  function claims(nonce: string) {
    const expires = new Date(Date.now() + 60_000);
    let alone = 0;
    const claim = () =>
      new NonceClaim(nonce, expires, async () => {
        alone++;
        return alone === 1;
      });
    return { claim, alone: () => alone };
  }
  const orderCount = async () => (await env.anvil.sa.listOrderIds(accountId, 1000)).length;

  it("each step of an issuance answers once and refuses its replay, which changes nothing", async () => {
    const ordersBefore = await orderCount();
    const [created, newOrderAgain] = await twice(client.directory.newOrder, { identifiers: [{ type: "dns", value: "replay.anvil.test" }] });
    expect(created.status).toBe(201);
    refused(newOrderAgain);
    expect(await orderCount()).toBe(ordersBefore + 1);
    const order = created.body;
    const orderUrl = created.location!;

    const [authz, authzAgain] = await twice(order.authorizations[0], "");
    expect(authz.status).toBe(200);
    refused(authzAgain);

    const ch = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
    env.responder.set(ch.token, client.keyAuthorization(ch.token));
    const [answered, answeredAgain] = await twice(ch.url, {});
    expect(answered.status).toBe(200);
    refused(answeredAgain);
    expect((await client.poll(order.authorizations[0], ["valid", "invalid"])).body.status).toBe("valid");
    expect((await env.anvil.sa.getChallenge(ch.url.split("/").pop()))!.challenge.attempts).toBe(1);

    const [polled, polledAgain] = await twice(orderUrl, "");
    expect(polled.body.status).toBe("ready");
    refused(polledAgain);

    const csr = await makeCsr(["replay.anvil.test"]);
    const [finalized, finalizedAgain] = await twice(order.finalize, { csr: Buffer.from(csr.der).toString("base64url") });
    expect(finalized.status).toBe(200);
    expect(finalized.body.status).toBe("valid");
    refused(finalizedAgain); // not orderNotReady: the nonce is checked before the order's state

    const [cert, certAgain] = await twice(finalized.body.certificate, "");
    expect(cert.status).toBe(200);
    expect(cert.text).toMatch(/BEGIN CERTIFICATE/);
    refused(certAgain);
  });

  it("a request that fails, before or in its first read, still uses up its nonce", async () => {
    const [unknown, unknownAgain] = await twice(client.directory.newOrder.replace(/new-order$/, "authz/no-such-authz"), "");
    expect(unknown.status).toBe(404);
    refused(unknownAgain);

    const [bad, badAgain] = await twice(client.directory.newOrder, { identifiers: "not a list" });
    expect(bad.status).toBe(400);
    expect(bad.body.type).toBe(ERR("malformed"));
    refused(badAgain);

    const created = await client.newOrder(["notready.anvil.test"]);
    const csr = await makeCsr(["notready.anvil.test"]);
    const [early, earlyAgain] = await twice(created.body.finalize, { csr: Buffer.from(csr.der).toString("base64url") });
    expect(early.status).toBe(403);
    expect(early.body.type).toBe(ERR("orderNotReady"));
    refused(earlyAgain);
  });

  it("two requests racing with one nonce: one is answered, the other refused, one order created", async () => {
    const ordersBefore = await orderCount();
    const nonce = await client.newNonce();
    const results = await Promise.all(
      ["race1.anvil.test", "race2.anvil.test", "race3.anvil.test"].map((value) =>
        client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value }] }, { nonce }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 400, 400]);
    for (const r of results.filter((x) => x.status === 400)) refused(r);
    expect(await orderCount()).toBe(ordersBefore + 1);
  });

  it(`storage: a read ${usePostgres() ? "carries the nonce in the same statement (PostgreSQL)" : "records the nonce before it runs (SQLite: nothing to carry it)"}`, async () => {
    const { claim, alone } = claims(`carried-${Date.now()}`);
    const first = claim();
    expect(await env.anvil.sa.getAuthz("no-such-authz", first)).toBeUndefined();
    expect(first.state).toBe("redeemed");
    const second = claim();
    if (usePostgres()) {
      expect(alone()).toBe(0); // recorded by the read itself, in RedeemedNonce
      await expect(env.anvil.sa.getOrderWithAuthzs("no-such-order", second)).rejects.toMatchObject({ type: "badNonce" });
      expect(alone()).toBe(0);
    } else {
      expect(alone()).toBe(1);
      await expect(env.anvil.sa.getOrderWithAuthzs("no-such-order", second)).rejects.toMatchObject({ type: "badNonce" });
      expect(alone()).toBe(2);
    }
    expect(second.state).toBe("refused");
  });

  it(`storage: starting a challenge ${usePostgres() ? "carries the nonce in the same statement (PostgreSQL)" : "records the nonce first (SQLite)"}; a replay starts nothing`, async () => {
    const order = await client.newOrder(["carried-start.anvil.test"]);
    const authz = await client.authz(order.body.authorizations[0]);
    const challengeId = String(authz.body.challenges.find((c: { type: string }) => c.type === "http-01").url).split("/").pop()!;
    const nonce = `start-${Date.now()}`;
    const { claim, alone } = claims(nonce);
    const expires = new Date(Date.now() + 60_000);
    const sa = env.anvil.sa;
    // a stranger's start, with a fresh nonce: nothing starts, the nonce is used up all the same
    const stranger = claim();
    expect(await sa.startChallengeFor(challengeId, "someone-else", new Date(), undefined, stranger)).toBeUndefined();
    expect(stranger.state).toBe("redeemed");
    expect(alone()).toBe(usePostgres() ? 0 : 1);
    // the owner's start with the same nonce: refused, nothing starts
    const replay = claim();
    await expect(sa.startChallengeFor(challengeId, accountId, new Date(), undefined, replay)).rejects.toMatchObject({ type: "badNonce" });
    expect((await sa.getChallenge(challengeId))!.challenge).toMatchObject({ status: "pending", attempts: 0 });
    // a good one: started, claimed and counted as the caller asked, and returned as started
    const lockUntil = new Date(Date.now() + 30_000);
    const started = await sa.startChallengeFor(challengeId, accountId, new Date(), lockUntil, new NonceClaim(`${nonce}-2`, expires, async () => true));
    expect(started?.challenge).toMatchObject({ id: challengeId, status: "processing", attempts: 1 });
    expect(started?.authz).toMatchObject({ accountId, status: "pending" });
    expect(started?.authz.challenges.find((c) => c.id === challengeId)?.status).toBe("processing");
    expect((await sa.getChallenge(challengeId))!.challenge).toMatchObject({ status: "processing", attempts: 1 });
    // started once only
    expect(await sa.startChallengeFor(challengeId, accountId, new Date(), lockUntil)).toBeUndefined();
  });

  it(`storage: an order with nothing to reuse is written ${usePostgres() ? "with its nonce in one statement (PostgreSQL)" : "after its nonce, in one transaction (SQLite)"}; with something to reuse, nothing is`, async () => {
    const sa = env.anvil.sa;
    const now = new Date();
    const reuseAfter = new Date(now.getTime() + 86_400_000);
    const newOrder = (id: string, value: string) => ({
      id,
      accountId,
      expires: new Date(now.getTime() + 3_600_000),
      identifiers: [{ type: "dns" as const, value }],
      authzs: [
        {
          id: `${id}-authz`,
          identifier: { type: "dns" as const, value },
          wildcard: false,
          expires: new Date(now.getTime() + 3_600_000),
          challenges: [{ id: `${id}-http`, type: "http-01" as const, token: `${id}-token-0123456789abcdef0123456789abcdef` }],
        },
      ],
    });
    const { claim, alone } = claims(`order-${Date.now()}`);
    const tag = Date.now().toString(36);
    // nothing to reuse: written, the nonce carried (PostgreSQL) or redeemed first (SQLite)
    expect(await sa.createOrderUnlessReusable(newOrder(`o1-${tag}`, `fresh-${tag}.anvil.test`), reuseAfter, claim())).toBe(true);
    expect(alone()).toBe(usePostgres() ? 0 : 1);
    const written = await sa.getOrderWithAuthzs(`o1-${tag}`);
    expect(written?.order).toMatchObject({ status: "pending", accountId, identifiers: [{ type: "dns", value: `fresh-${tag}.anvil.test` }] });
    expect(written?.authzs.map((a) => [a.status, a.challenges.map((c) => c.status)])).toEqual([["pending", ["pending"]]]);
    // the same nonce again: refused, nothing written
    await expect(sa.createOrderUnlessReusable(newOrder(`o2-${tag}`, `other-${tag}.anvil.test`), reuseAfter, claim())).rejects.toMatchObject({ type: "badNonce" });
    expect(await sa.getOrderWithAuthzs(`o2-${tag}`)).toBeUndefined();
    expect(await sa.getAuthz(`o2-${tag}-authz`)).toBeUndefined();

    // a valid authorization for the name: nothing written (the RA then reuses it), the nonce used up all the same
    const order = await client.newOrder([`valid-${tag}.anvil.test`]);
    const authz = await client.authz(order.body.authorizations[0]);
    const ch = authz.body.challenges.find((c: { type: string }) => c.type === "http-01");
    env.responder.set(ch.token, client.keyAuthorization(ch.token));
    await client.post(ch.url, {});
    expect((await client.poll(order.body.authorizations[0], ["valid", "invalid"])).body.status).toBe("valid");
    const second = claims(`order2-${Date.now()}`);
    expect(await sa.createOrderUnlessReusable(newOrder(`o3-${tag}`, `valid-${tag}.anvil.test`), reuseAfter, second.claim())).toBe(false);
    expect(await sa.getOrderWithAuthzs(`o3-${tag}`)).toBeUndefined();
    expect(await sa.getAuthz(`o3-${tag}-authz`)).toBeUndefined();
    await expect(sa.getAuthz("no-such-authz", second.claim())).rejects.toMatchObject({ type: "badNonce" });
    // past the reuse horizon it is written
    const later = new Date(now.getTime() + 40 * 86_400_000);
    expect(await sa.createOrderUnlessReusable(newOrder(`o4-${tag}`, `valid-${tag}.anvil.test`), later)).toBe(true);
  });
});
