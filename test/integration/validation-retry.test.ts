// Retrying challenges (RFC 8555 §8.2) in a real Anvil process started with a config file: a
// connection refused while validation.maxAttempts allows another attempt keeps the challenge
// "processing" (with Retry-After), and the next attempt, once the client's server listens, makes it
// valid. With maxAttempts 1 the same refusal makes it invalid at once, with a connection problem.
// The validator waits 5 s × the attempt number before a retry, so each retry test waits 5 s or more.
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startHttp01Responder, TestAcme, type AcmeResponse } from "../helpers/acme.js";
import { startAnvil, type AnvilProcess } from "../helpers/anvil-process.js";
import { startTestDns } from "../helpers/dnsserver.js";
import { freePort, makeTempDir, removeTempDir } from "../helpers/tools.js";

const ERR = "urn:ietf:params:acme:error:";
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => undefined);
});

interface RetryEnv {
  anvil: AnvilProcess;
  client: TestAcme;
  /** the http-01 port Anvil dials; nothing listens there until a test starts a responder */
  httpPort: number;
  /** anvil_validations_total for http-01 and this result, read from the management listener */
  validations(result: "retry" | "valid" | "invalid"): Promise<number>;
}

/** Anvil with `validation: {maxAttempts, timeout: 2s}` from a YAML file, names resolving to 127.0.0.1. */
async function startRetryEnv(maxAttempts: number): Promise<RetryEnv> {
  const dns = await startTestDns({ defaultA: "127.0.0.1" });
  cleanup.push(() => dns.close());
  const configDir = await makeTempDir("retry-config");
  cleanup.push(() => removeTempDir(configDir));
  const configFile = `${configDir}/anvil.yaml`;
  await writeFile(configFile, `validation:\n  maxAttempts: ${maxAttempts}\n  timeout: 2s\n`);
  const [httpPort, adminPort] = [await refusedPort(), await freePort()];
  const anvil = await startAnvil({
    env: {
      ANVIL_CONFIG: configFile,
      ANVIL_DNS_RESOLVER: dns.address,
      ANVIL_HTTP01_PORT: String(httpPort),
      ANVIL_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    },
  });
  cleanup.push(() => anvil.stop());
  const client = await TestAcme.create(anvil.directoryUrl, { ca: anvil.rootPem });
  expect((await client.newAccount()).status).toBe(201);
  const validations = async (result: string) => {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`anvil_validations_total{type="http-01",result="${result}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  };
  return { anvil, client, httpPort, validations };
}

/**
 * A port nothing listens on for the whole test. freePort() hands out a port from the ephemeral range,
 * which any process on the host may be given for its own listener a moment later; the validator
 * would then reach that listener and fail for good instead of being refused. A port below the
 * ephemeral range is only ever taken by an explicit bind.
 */
async function refusedPort(): Promise<number> {
  const range = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "32768 60999");
  const low = Math.min(Number(range.trim().split(/\s+/)[0]) || 32768, 32768);
  for (let i = 0; i < 50; i++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port below the ephemeral range");
}

/**
 * A new order for `name` and its http-01 challenge, answered (POST {}) while nothing listens. With attempts
 * left the answer is "processing" (a retry is due); `answers` widens that where the refusal is final.
 */
async function respondWhileRefused(env: RetryEnv, name: string, answers = ["processing"]) {
  const order = await env.client.newOrder([name]);
  expect(order.status).toBe(201);
  const authzUrl: string = order.body.authorizations[0];
  const chall = (await env.client.authz(authzUrl)).body.challenges.find((c: { type: string }) => c.type === "http-01");
  const keyAuthorization = env.client.keyAuthorization(chall.token);
  const responded = await env.client.respond(chall.url);
  expect(responded.status).toBe(200);
  expect(answers).toContain(responded.body.status);
  return { orderUrl: order.location!, authzUrl, challUrl: chall.url as string, token: chall.token as string, keyAuthorization };
}

/** Polls the management listener until `check` holds (the validator's progress is not visible on the ACME API). */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectRetryAfter(res: AcmeResponse) {
  // delta-seconds (RFC 9110 §10.2.3)
  expect(res.headers.get("retry-after"), res.text).toMatch(/^\d+$/);
}

describe("validation retries (RFC 8555 §8.2)", () => {
  it("a refused connection with attempts left: processing with Retry-After, then valid once the server listens", async () => {
    const env = await startRetryEnv(3);
    const ch = await respondWhileRefused(env, "retry.anvil.test");
    await waitFor("the first attempt to fail", async () => (await env.validations("retry")) === 1);

    // between attempts: nothing final yet, and the client is told when to look again
    const chall = await env.client.post(ch.challUrl, "");
    expect(chall.status).toBe(200);
    expect(chall.body.status).toBe("processing");
    expectRetryAfter(chall);
    const authz = await env.client.authz(ch.authzUrl);
    expect(authz.body.status).toBe("pending");
    expect(authz.body.challenges.find((c: { url: string }) => c.url === ch.challUrl).status).toBe("processing");
    expectRetryAfter(authz);
    expect((await env.client.post(ch.orderUrl, "")).body.status).toBe("pending");

    const responder = await startHttp01Responder({ port: env.httpPort });
    cleanup.push(() => responder.close());
    responder.set(ch.token, ch.keyAuthorization);
    const done = await env.client.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 20_000 });
    expect(done.body.status, done.text).toBe("valid");
    expect(done.headers.get("retry-after")).toBeNull();

    const valid = await env.client.post(ch.challUrl, "");
    expect(valid.body.status).toBe("valid");
    expect(valid.body.validated).toBeTypeOf("string");
    expect(valid.body.error).toBeUndefined(); // the failed first attempt does not linger on a valid challenge
    expect(valid.headers.get("retry-after")).toBeNull();
    // the record of the attempt that succeeded
    expect(valid.body.validationRecord).toEqual([
      expect.objectContaining({ hostname: "retry.anvil.test", port: String(env.httpPort), addressUsed: "127.0.0.1" }),
    ]);
    expect(responder.requests).toEqual([{ host: `retry.anvil.test:${env.httpPort}`, path: `/.well-known/acme-challenge/${ch.token}` }]);
    expect(await env.validations("retry")).toBe(1);
    expect(await env.validations("valid")).toBe(1);
    expect((await env.client.post(ch.orderUrl, "")).body.status).toBe("ready");
  }, 45_000);

  it("the processing challenge carries the failed attempt's error (§8.2: the server MUST add one after each failed query)", async () => {
    const env = await startRetryEnv(3);
    const ch = await respondWhileRefused(env, "retry-error.anvil.test");
    await waitFor("the first attempt to fail", async () => (await env.validations("retry")) === 1);
    const chall = await env.client.post(ch.challUrl, "");
    expect(chall.body.status).toBe("processing");
    expectRetryAfter(chall);
    expect(chall.body.error, chall.text).toMatchObject({
      type: `${ERR}connection`,
      detail: expect.stringContaining(`127.0.0.1:${env.httpPort}`),
    });
  }, 45_000);

  it("maxAttempts 2: two refused attempts, then invalid with the last attempt's connection problem", async () => {
    // validation.maxAttempts counts attempts ("attempts for transient failures before the challenge is
    // invalid"): 2 means one retry after the first refusal
    const env = await startRetryEnv(2);
    const ch = await respondWhileRefused(env, "exhausted.anvil.test");
    const done = await env.client.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 20_000 });
    expect(done.body.status, done.text).toBe("invalid");
    const chall = await env.client.post(ch.challUrl, "");
    expect(chall.body.status).toBe("invalid");
    expect(chall.body.error, chall.text).toMatchObject({ type: `${ERR}connection`, detail: expect.stringContaining(`127.0.0.1:${env.httpPort}`) });
    expect({ retries: await env.validations("retry"), invalid: await env.validations("invalid") }).toEqual({ retries: 1, invalid: 1 });
  }, 45_000);

  it("maxAttempts 1: a refused connection makes the challenge invalid at once, with a connection problem naming address and port", async () => {
    const env = await startRetryEnv(1);
    // "invalid" in the answer itself when the attempt ends within validation.answerWithinMs (1 s), which here includes
    // starting the VA's worker thread; "processing" if that took longer
    const ch = await respondWhileRefused(env, "refused.anvil.test", ["invalid", "processing"]);
    const done = await env.client.poll(ch.authzUrl, ["valid", "invalid"], { timeoutMs: 15_000 });
    expect(done.body.status, done.text).toBe("invalid");
    expect(done.headers.get("retry-after")).toBeNull();

    const chall = await env.client.post(ch.challUrl, "");
    expect(chall.body.status).toBe("invalid");
    expect(chall.headers.get("retry-after")).toBeNull();
    expect(chall.body.error, chall.text).toMatchObject({
      type: `${ERR}connection`,
      status: 400,
      identifier: { type: "dns", value: "refused.anvil.test" },
    });
    expect(chall.body.error.detail).toContain(`127.0.0.1:${env.httpPort}`);
    expect(chall.body.error.detail).toMatch(/refused/i);
    expect(chall.body.validationRecord).toEqual([
      expect.objectContaining({ hostname: "refused.anvil.test", port: String(env.httpPort), addressUsed: "127.0.0.1" }),
    ]);
    // one attempt, no retry; the order is invalid with its authorization (RFC 8555 §7.1.6)
    expect(await env.validations("retry")).toBe(0);
    expect(await env.validations("invalid")).toBe(1);
    expect((await env.client.post(ch.orderUrl, "")).body.status).toBe("invalid");
  }, 45_000);
});
