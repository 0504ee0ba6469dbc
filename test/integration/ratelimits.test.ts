// Rate limits answer 429 rateLimited with Retry-After (RFC 8555 §6.7) and say which limit was hit.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, startInProc, type InProc } from "../helpers/inproc.js";

let env: InProc;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "anvil-rl-"));
  const file = join(dir, "anvil.yaml");
  writeFileSync(file, "rateLimits:\n  newOrdersPerAccount: { limit: 3, window: 1h }\n  newAccountsPerIp: { limit: 4, window: 1h }\n");
  env = await startInProc({ ANVIL_CONFIG: file });
});
afterAll(async () => env?.close());

describe("rate limits", () => {
  it("new orders per account: the fourth within the window is 429 with Retry-After; other accounts are not affected", async () => {
    const c = await env.account();
    for (let i = 0; i < 3; i++) expect((await c.newOrder([`rl${i}.anvil.test`])).status).toBe(201);
    const res = await c.newOrder(["rl3.anvil.test"]);
    expect(res.status).toBe(429);
    expect(res.body.type).toBe(ERR("rateLimited"));
    expect(res.body.detail).toMatch(/newOrdersPerAccount/);
    const retry = Number(res.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
    const other = await env.account();
    expect((await other.newOrder(["rl-other.anvil.test"])).status).toBe(201);
  });

  it("new accounts per IP: the limit counts only created accounts, not lookups of existing ones", async () => {
    // two accounts were created by the test above; two more fit
    const made = [await env.account(), await env.account()];
    const again = await made[0]!.post(made[0]!.directory.newAccount, { termsOfServiceAgreed: true }, { useJwk: true });
    expect(again.status).toBe(200);
    const c = await env.client();
    const res = await c.newAccount();
    expect(res.status).toBe(429);
    expect(res.body.type).toBe(ERR("rateLimited"));
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
