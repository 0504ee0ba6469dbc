// The load generator (bench/) against a real Anvil on loopback: complete flows with real http-01
// validation, and its polling policy. An authorization is polled only when the challenge POST did not
// answer "valid" already (RFC 8555 §7.1.6: a valid challenge makes its authorization valid).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startResponder, type Responder } from "../../bench/flow.js";
import { runLoad, type LoadResult } from "../../bench/load.js";
import { startInProc, type InProc } from "../helpers/inproc.js";

let responder: Responder;
let env: InProc;
beforeAll(async () => {
  responder = await startResponder(0);
  // no periodic scan (an hour): a challenge answered while a scan claims jobs would wait for the next scan.
  // The answer waits up to 10 s for the outcome (default 1 s): on a loaded CI machine a durable commit can
  // wait over a second for the disk (other test files create and drop databases on the same server), and that challenge would
  // then be answered "processing" and polled, which is right, but not what this test is about.
  env = await startInProc({ ANVIL_HTTP01_PORT: String(responder.port), ANVIL_ANSWER_WITHIN_MS: "10000" }, { validatorPollMs: 3_600_000 });
});
afterAll(async () => {
  await env?.close();
  await responder?.close();
});

const load = (): Promise<LoadResult> =>
  runLoad({
    directoryUrl: env.directoryUrl,
    ca: env.rootPem,
    responder,
    concurrency: 2,
    certificates: 6,
    maxDurationS: 60,
    warmupS: 0,
    pollCapMs: 50,
    pollTimeoutMs: 10_000,
    revoke: false,
    namesPerOrder: 1,
    domain: "bench.test",
    sampleMs: 1000,
    idleS: 0,
    progress: false,
  });

describe("bench: complete flows against Anvil", () => {
  it("answered valid by the challenge POST: no authorization polls, every certificate issued and validated", async () => {
    const served = responder.served();
    const r = await load();
    expect(r.failedFlows).toBe(0);
    expect(r.certificates).toBeGreaterThanOrEqual(6);
    expect(r.latency.challenge!.count).toBeGreaterThanOrEqual(r.certificates);
    expect(r.latency.pollAuthz).toBeUndefined();
    expect(responder.served() - served).toBeGreaterThanOrEqual(r.certificates); // real http-01 requests were answered
  });

  it("answered processing (answerWithinMs 0): the generator polls each authorization until it is valid", async () => {
    await env.restart({ ANVIL_ANSWER_WITHIN_MS: "0" });
    const r = await load();
    expect(r.failedFlows).toBe(0);
    expect(r.certificates).toBeGreaterThanOrEqual(6);
    expect(r.latency.pollAuthz!.count).toBeGreaterThanOrEqual(r.certificates);
  });
});
