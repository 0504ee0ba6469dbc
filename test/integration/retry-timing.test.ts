// RFC 8555 §8.2 while a validation is retried: Retry-After says when the next attempt is due, and a
// client that responds to the challenge again gets an attempt at once (still bounded by maxAttempts).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProc, type InProc } from "../helpers/inproc.js";
import { freePort } from "../helpers/tools.js";

let env: InProc;
let admin: string;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "anvil-retry-"));
  writeFileSync(join(dir, "anvil.yaml"), "validation:\n  maxAttempts: 3\n  timeout: 2s\n");
  const adminPort = await freePort();
  admin = `http://127.0.0.1:${adminPort}`;
  // nothing listens on the http-01 port: every attempt is refused, a transient failure
  env = await startInProc({ ANVIL_CONFIG: join(dir, "anvil.yaml"), ANVIL_HTTP01_PORT: "9", ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}` });
});
afterAll(async () => env?.close());

const retries = async () => {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(/anvil_validations_total\{type="http-01",result="retry"\} (\d+)/.exec(text)?.[1] ?? 0);
};

describe("retries (§8.2)", () => {
  it("Retry-After points at the next attempt; responding again retries at once", async () => {
    const c = await env.account();
    const order = await c.newOrder(["retry.anvil.test"]);
    const authzUrl = order.body.authorizations[0];
    const ch = (await c.authz(authzUrl)).body.challenges.find((x: any) => x.type === "http-01");
    await c.respond(ch.url);
    while ((await retries()) < 1) await new Promise((r) => setTimeout(r, 50));
    const waiting = await c.authz(ch.url);
    expect(waiting.body.status).toBe("processing");
    expect(waiting.body.error.type).toBe("urn:ietf:params:acme:error:connection");
    const after = Number(waiting.headers.get("retry-after"));
    expect(after).toBeGreaterThanOrEqual(3); // the first retry is 5 s after the first attempt
    expect(after).toBeLessThanOrEqual(5);
    const authz = await c.authz(authzUrl);
    expect(Number(authz.headers.get("retry-after"))).toBe(after);

    const again = await c.respond(ch.url);
    expect(again.body.status).toBe("processing");
    const t0 = Date.now();
    while ((await retries()) < 2) await new Promise((r) => setTimeout(r, 50));
    expect(Date.now() - t0).toBeLessThan(3000); // well before the 5 s the schedule said
    // the third and last attempt fails for good: invalid, however often the client asks
    await c.respond(ch.url);
    const done = await c.poll(authzUrl, ["invalid", "valid"], { timeoutMs: 20_000 });
    expect(done.body.status).toBe("invalid");
  });
});
