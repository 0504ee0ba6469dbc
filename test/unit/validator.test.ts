// The validator's slots (src/ra/validator.ts): hand-offs from challenge POSTs (reserve) and the scan's
// claims share validation.concurrency, and never exceed it. Storage and VA are fakes here; the same
// behaviour against real storage and HTTP is in test/integration/validation-handoff.test.ts.
import { describe, expect, it } from "vitest";
import type { RADeps } from "../../src/ra/deps.js";
import { createValidator } from "../../src/ra/validator.js";
import type { Authorization, Challenge } from "../../src/core/types.js";

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
const tick = () => new Promise((r) => setTimeout(r, 5));
const noop = () => undefined;

function setup(concurrency: number) {
  const claims: Array<{ limit: number; answer: ReturnType<typeof deferred<string[]>> }> = [];
  const validations: Array<{ token: string; answer: ReturnType<typeof deferred<{ records: [] }>> }> = [];
  const finished: string[] = [];
  const deps = {
    sa: {
      claimDueChallengeJobs: (_now: Date, _lock: Date, limit: number) => {
        const answer = deferred<string[]>();
        claims.push({ limit, answer });
        return answer.promise;
      },
      getAccount: async () => ({ id: "acct", jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" } }),
      finishChallenge: async (id: string) => void finished.push(id),
    },
    va: {
      validate: (req: { token: string }) => {
        const answer = deferred<{ records: [] }>();
        validations.push({ token: req.token, answer });
        return answer.promise;
      },
    },
    clock: { now: () => new Date() },
    log: { info: noop, warn: noop, error: noop, debug: noop },
    config: { validAuthzLifetime: 3600, validation: { concurrency, timeout: 10, maxAttempts: 3 } },
    metrics: { validation: noop },
  } as unknown as RADeps;
  const job = (n: number) => ({
    challenge: { id: `ch${n}`, type: "http-01", token: `tok${n}`, status: "processing", attempts: 1 } as Challenge,
    authz: { id: `az${n}`, accountId: "acct", identifier: { type: "dns", value: `n${n}.test` } } as Authorization,
  });
  return { validator: createValidator(deps, { pollMs: 3_600_000 }), claims, validations, finished, job };
}

describe("validator slots: hand-offs and scans share validation.concurrency", () => {
  it("no slot while a scan's claim for every free slot is on its way; slots again once it claimed nothing", async () => {
    const { validator, claims } = setup(2);
    expect(validator.reserve()).toBeUndefined(); // not started
    validator.start();
    expect(claims).toHaveLength(1);
    expect(claims[0]!.limit).toBe(2);
    expect(validator.reserve()).toBeUndefined(); // both slots are being claimed
    claims[0]!.answer.resolve([]);
    await tick();
    const a = validator.reserve();
    const b = validator.reserve();
    expect(a && b).toBeTruthy();
    expect(validator.reserve()).toBeUndefined(); // both held
    a!.release();
    expect(validator.reserve()).toBeDefined();
    expect(() => a!.release()).toThrow(/once/);
    await validator.stop(10);
  });

  it("a handed-off job runs at once with what the caller read and holds its slot until it is recorded", async () => {
    const { validator, claims, validations, finished, job } = setup(1);
    validator.start();
    claims[0]!.answer.resolve([]);
    await tick();
    const slot = validator.reserve()!;
    slot.run(job(1));
    await tick();
    expect(validations.map((v) => v.token)).toEqual(["tok1"]);
    expect(validator.running()).toBe(1);
    expect(validator.reserve()).toBeUndefined(); // the only slot is busy
    validations[0]!.answer.resolve({ records: [] });
    await tick();
    expect(finished).toEqual(["ch1"]);
    expect(validator.running()).toBe(0);
    expect(validator.reserve()).toBeDefined();
    await validator.stop(10);
  });

  it("a scan asks only for the slots neither running nor reserved", async () => {
    const { validator, claims } = setup(3);
    validator.start();
    claims[0]!.answer.resolve([]);
    await tick();
    const held = validator.reserve()!;
    validator.wake();
    await tick();
    expect(claims.at(-1)!.limit).toBe(2);
    claims.at(-1)!.answer.resolve([]);
    await tick();
    held.release();
    await validator.stop(10);
  });
});
