// The challenge POST (RFC 8555 §7.5.1) answers with the challenge's current state. When this instance
// starts the validation itself, the answer waits for it up to validation.answerWithinMs, so a validation
// that ends that soon is answered "valid" or "invalid" at once (the state a client would otherwise poll
// for); a slower one is answered "processing" with Retry-After, and goes on. Real HTTP on loopback: the
// client's http-01 server here can hold its answers. The validator's periodic scan is off (an hour): while a
// scan claims jobs it holds every free slot, and a challenge answered then waits for the next scan instead.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestAcme } from "../helpers/acme.js";
import { startInProc, type InProc } from "../helpers/inproc.js";

const keyAuths = new Map<string, string>();
let hold = false;
const held: Array<() => void> = [];
let http01: Server;
let port: number;

beforeAll(async () => {
  http01 = createServer((req, res) => {
    const answer = () => {
      const value = keyAuths.get((req.url ?? "").split("/").pop() ?? "");
      res.writeHead(value ? 200 : 404, { "content-type": "text/plain" }).end(value ?? "not found");
    };
    if (hold) held.push(answer);
    else answer();
  });
  await new Promise<void>((r) => http01.listen(0, "127.0.0.1", r));
  port = (http01.address() as AddressInfo).port;
});
afterAll(() => {
  held.splice(0).forEach((answer) => answer());
  http01.closeAllConnections();
  http01.close();
});

async function challengeFor(c: TestAcme, name: string) {
  const order = await c.newOrder([name]);
  const authzUrl: string = order.body.authorizations[0];
  const ch = (await c.authz(authzUrl)).body.challenges.find((x: { type: string }) => x.type === "http-01");
  return { authzUrl, url: ch.url as string, token: ch.token as string };
}

/** One validation to the end: the VA's worker thread starts with the first one (0.1–0.3 s, more on a busy machine). */
async function warmUp(env: InProc) {
  const c = await env.account();
  const ch = await challengeFor(c, "warm-up.answer.test");
  keyAuths.set(ch.token, c.keyAuthorization(ch.token));
  await c.respond(ch.url);
  expect((await c.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 10_000 })).body.status).toBe("valid");
}

describe("the challenge POST answers with the outcome of a validation that ends within answerWithinMs", () => {
  let env: InProc;
  beforeAll(async () => {
    // 10 s rather than the default 1 s: on a loaded CI machine the outcome's durable commit can wait over a
    // second for the disk (other test files create and drop databases on the same server); the slower case is the next describe's
    env = await startInProc({ ANVIL_HTTP01_PORT: String(port), ANVIL_ANSWER_WITHIN_MS: "10000" }, { validatorPollMs: 3_600_000 });
    await warmUp(env);
  });
  afterAll(async () => env?.close());

  it("valid: the answer is the valid challenge (validated, validationRecord, no Retry-After), and the authorization is valid", async () => {
    const c = await env.account();
    const ch = await challengeFor(c, "quick.answer.test");
    keyAuths.set(ch.token, c.keyAuthorization(ch.token));
    const res = await c.respond(ch.url);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: "http-01", url: ch.url, token: ch.token, status: "valid" });
    expect(Date.parse(res.body.validated)).toBeGreaterThan(Date.now() - 60_000);
    expect(res.body.validationRecord[0]).toMatchObject({ url: `http://quick.answer.test:${port}/.well-known/acme-challenge/${ch.token}`, addressUsed: "127.0.0.1" });
    expect(res.body.error).toBeUndefined();
    expect(res.headers.get("retry-after")).toBeNull();
    expect(res.links("up")).toEqual([ch.authzUrl]);
    // what the answer said is what is stored
    const authz = await c.authz(ch.authzUrl);
    expect(authz.body.status).toBe("valid");
    expect(authz.body.challenges[0]).toEqual(res.body);
  });

  it("invalid: a wrong key authorization is answered invalid with the incorrectResponse problem at once", async () => {
    const c = await env.account();
    const ch = await challengeFor(c, "wrong.answer.test");
    keyAuths.set(ch.token, "not-the-key-authorization");
    const res = await c.respond(ch.url);
    expect(res.body.status).toBe("invalid");
    expect(res.body.error).toMatchObject({ type: "urn:ietf:params:acme:error:incorrectResponse", identifier: { type: "dns", value: "wrong.answer.test" } });
    const authz = await c.authz(ch.authzUrl);
    expect(authz.body.status).toBe("invalid");
    expect(authz.body.challenges.find((x: { url: string }) => x.url === ch.url)).toEqual(res.body);
  });
});

describe("a validation slower than answerWithinMs, and answerWithinMs 0", () => {
  let env: InProc;
  beforeAll(async () => {
    env = await startInProc({ ANVIL_HTTP01_PORT: String(port), ANVIL_ANSWER_WITHIN_MS: "300" }, { validatorPollMs: 3_600_000 });
  });
  afterAll(async () => env?.close());

  it("answered processing with Retry-After once the wait is over; the validation goes on and ends valid", async () => {
    const c = await env.account();
    const ch = await challengeFor(c, "slow.answer.test");
    keyAuths.set(ch.token, c.keyAuthorization(ch.token));
    hold = true;
    try {
      const t0 = Date.now();
      const res = await c.respond(ch.url);
      const waited = Date.now() - t0;
      expect(res.body.status).toBe("processing");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(waited).toBeGreaterThanOrEqual(290); // it did wait for the outcome, as long as it was told to
      // the client's server has not answered: the validation is still under way (the first one also starts the VA's worker)
      while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
      expect(held.length).toBe(1);
    } finally {
      hold = false;
      held.splice(0).forEach((answer) => answer());
    }
    const done = await c.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 10_000 });
    expect(done.body.status).toBe("valid");
  });

  it("ANVIL_ANSWER_WITHIN_MS=0: processing at once, as an asynchronous server answers", async () => {
    await env.restart({ ANVIL_ANSWER_WITHIN_MS: "0" });
    const c = await env.account();
    const ch = await challengeFor(c, "zero.answer.test");
    keyAuths.set(ch.token, c.keyAuthorization(ch.token));
    const res = await c.respond(ch.url);
    expect(res.body.status).toBe("processing");
    expect(res.headers.get("retry-after")).toBe("1");
    const done = await c.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 10_000 });
    expect(done.body.status).toBe("valid");
  });
});
