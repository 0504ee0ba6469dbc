// Accounts, RFC 8555 §7.3: creation, lookup, contacts, terms of service, update, deactivation,
// key rollover (§7.3.5) and the orders list (§7.1.2.1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateAccountKey } from "../helpers/acme.js";
import { ERR, startInProc, type InProc } from "../helpers/inproc.js";

let env: InProc;
beforeAll(async () => {
  env = await startInProc({ ANVIL_TOS_URL: "https://ca.anvil.test/tos" });
});
afterAll(async () => env?.close());

describe("newAccount", () => {
  it("creates an account: 201, Location, the account object", async () => {
    const c = await env.client();
    const res = await c.newAccount({ termsOfServiceAgreed: true, contact: ["mailto:admin@anvil.test"] });
    expect(res.status).toBe(201);
    expect(res.location).toMatch(/\/acme\/acct\/[A-Za-z0-9_-]+$/);
    expect(res.body).toMatchObject({ status: "valid", contact: ["mailto:admin@anvil.test"], termsOfServiceAgreed: true });
    expect(res.body.orders).toBe(`${res.location}/orders`);
    expect(res.links("index")).toEqual([env.directoryUrl]);
  });

  it("an existing key answers 200 with the same Location", async () => {
    const c = await env.account();
    const again = await c.post(c.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true });
    expect(again.status).toBe(200);
    expect(again.location).toBe(c.kid);
  });

  it("onlyReturnExisting finds the account, or answers accountDoesNotExist", async () => {
    const c = await env.account();
    const found = await c.post(c.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true });
    expect(found.status).toBe(200);
    expect(found.location).toBe(c.kid);
    const stranger = await env.client();
    const res = await stranger.newAccount({ onlyReturnExisting: true });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR("accountDoesNotExist"));
  });

  it("the directory names the terms of service, and they must be agreed to", async () => {
    const c = await env.client();
    expect(c.directory.meta).toMatchObject({ termsOfService: "https://ca.anvil.test/tos", externalAccountRequired: false });
    const res = await c.newAccount({ contact: ["mailto:a@anvil.test"] });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR("malformed"));
    expect(res.body.detail).toMatch(/terms of service/);
  });

  it.each([
    [["tel:+1555"], "unsupportedContact"],
    [["mailto:not-an-address"], "invalidContact"],
    [["mailto:a@anvil.test?subject=hi"], "invalidContact"],
    [["mailto:a@b@anvil.test"], "invalidContact"],
    [["just text"], "invalidContact"],
  ])("contact %j → %s", async (contact, type) => {
    const c = await env.client();
    const res = await c.newAccount({ termsOfServiceAgreed: true, contact });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR(type));
  });

  it("contact that is not an array of strings → malformed", async () => {
    const c = await env.client();
    const res = await c.newAccount({ termsOfServiceAgreed: true, contact: "mailto:a@anvil.test" });
    expect(res.body.type).toBe(ERR("malformed"));
  });
});

describe("account URL", () => {
  it("POST-as-GET reads, a contact update is stored", async () => {
    const c = await env.account();
    const read = await c.post(c.kid!, "");
    expect(read.status).toBe(200);
    const upd = await c.post(c.kid!, { contact: ["mailto:new@anvil.test"] });
    expect(upd.status).toBe(200);
    expect(upd.body.contact).toEqual(["mailto:new@anvil.test"]);
    expect((await c.post(c.kid!, "")).body.contact).toEqual(["mailto:new@anvil.test"]);
  });

  it("another account's URL → unauthorized", async () => {
    const a = await env.account();
    const b = await env.account();
    const res = await a.post(b.kid!, "");
    expect(res.status).toBe(403);
    expect(res.body.type).toBe(ERR("unauthorized"));
  });

  it("a status other than deactivated → malformed", async () => {
    const c = await env.account();
    const res = await c.post(c.kid!, { status: "revoked" });
    expect(res.body.type).toBe(ERR("malformed"));
  });

  it("deactivation: then every request with the account is unauthorized (§7.3.6)", async () => {
    const c = await env.account();
    const res = await c.post(c.kid!, { status: "deactivated" });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("deactivated");
    const order = await c.newOrder(["after.anvil.test"]);
    expect(order.status).toBe(403);
    expect(order.body.type).toBe(ERR("unauthorized"));
    const lookup = await c.post(c.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true });
    expect(lookup.body.type).toBe(ERR("unauthorized"));
  });
});

describe("key rollover (§7.3.5)", () => {
  it("moves the account to the new key; the old key no longer finds it", async () => {
    const c = await env.account();
    const oldKey = c.key;
    const newKey = await generateAccountKey("EdDSA");
    const res = await c.keyChange(newKey);
    expect(res.status).toBe(200);
    expect((await c.post(c.kid!, "")).status).toBe(200); // signs with the new key now
    const byOld = await env.client();
    const old = await byOld.post(byOld.directory.newAccount, { onlyReturnExisting: true }, { key: oldKey, useJwk: true });
    expect(old.body.type).toBe(ERR("accountDoesNotExist"));
    const byNew = await byOld.post(byOld.directory.newAccount, { onlyReturnExisting: true }, { key: newKey, useJwk: true });
    expect(byNew.location).toBe(c.kid);
  });

  it("a key already used by another account → 409 with that account's Location", async () => {
    const a = await env.account();
    const b = await env.account();
    const res = await a.keyChange(b.key);
    expect(res.status).toBe(409);
    expect(res.location).toBe(b.kid);
  });

  it.each([
    ["inner url differs", { innerProtected: { url: "https://elsewhere.anvil.test/key-change" } }, "malformed"],
    ["inner payload names another account", { innerPayload: { account: "https://x/acme/acct/1" } }, "unauthorized"],
    ["oldKey is not the current key", { oldKeyFrom: true }, "unauthorized"],
    ["inner uses kid", { innerProtected: { jwk: undefined, kid: "x" } }, "malformed"],
  ])("%s → %s", async (_name, variant: any, type) => {
    const c = await env.account();
    const newKey = await generateAccountKey("ES256");
    const opts: any = { ...variant };
    if (variant.innerPayload) opts.innerPayload = { ...variant.innerPayload, oldKey: c.key.jwk };
    if (variant.oldKeyFrom) opts.innerPayload = { account: c.kid, oldKey: (await generateAccountKey()).jwk };
    const res = await c.keyChange(newKey, opts);
    expect(res.body.type).toBe(ERR(type));
    expect((await c.post(c.kid!, "")).status).toBe(200); // still the old key
  });

  it("inner JWS signed by a key other than its jwk → malformed", async () => {
    const c = await env.account();
    const newKey = await generateAccountKey("ES256");
    const other = await generateAccountKey("ES256");
    const res = await c.keyChange(newKey, { innerProtected: { jwk: other.jwk } });
    expect(res.body.type).toBe(ERR("malformed"));
  });
});

describe("orders list (§7.1.2.1)", () => {
  it("lists the account's orders, paginated with Link rel=next", async () => {
    const c = await env.account();
    const created: string[] = [];
    for (let i = 0; i < 60; i++) {
      const o = await c.newOrder([`list${i}.anvil.test`]);
      expect(o.status).toBe(201);
      created.push(o.location!);
    }
    const acct = await c.post(c.kid!, "");
    const seen: string[] = [];
    let url: string | undefined = acct.body.orders;
    let pages = 0;
    while (url) {
      const page = await c.post(url, "");
      expect(page.status).toBe(200);
      seen.push(...page.body.orders);
      url = page.links("next")[0];
      pages++;
    }
    expect(pages).toBe(2);
    expect(new Set(seen)).toEqual(new Set(created));
    expect(seen.length).toBe(60);
    const other = await env.account();
    const denied = await other.post(acct.body.orders, "");
    expect(denied.body.type).toBe(ERR("unauthorized"));
  });
});
