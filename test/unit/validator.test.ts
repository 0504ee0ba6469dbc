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

type VaResult = { records: []; problem?: { type: string; detail: string } };

function setup(concurrency: number, opts: { recorded?: boolean; maxAttempts?: number } = {}) {
  const claims: Array<{ limit: number; answer: ReturnType<typeof deferred<string[]>> }> = [];
  const validations: Array<{ token: string; answer: ReturnType<typeof deferred<VaResult>> }> = [];
  const finished: string[] = [];
  const retried: Array<{ id: string; runAfter: Date }> = [];
  const deps = {
    sa: {
      claimDueChallengeJobs: (_now: Date, _lock: Date, limit: number) => {
        const answer = deferred<string[]>();
        claims.push({ limit, answer });
        return answer.promise;
      },
      getAccount: async () => ({ id: "acct", jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" } }),
      getChallenge: async () => undefined, // a claimed job read back: gone (nothing to run)
      finishChallenge: async (id: string) => {
        finished.push(id);
        return opts.recorded ?? true; // false: the guarded update found the challenge no longer processing
      },
      retryChallengeJob: async (id: string, runAfter: Date) => void retried.push({ id, runAfter }),
    },
    va: {
      validate: (req: { token: string }) => {
        const answer = deferred<VaResult>();
        validations.push({ token: req.token, answer });
        return answer.promise;
      },
    },
    clock: { now: () => new Date() },
    log: { info: noop, warn: noop, error: noop, debug: noop },
    config: { validAuthzLifetime: 3600, validation: { concurrency, timeout: 10, maxAttempts: opts.maxAttempts ?? 3 } },
    metrics: { validation: noop },
  } as unknown as RADeps;
  const job = (n: number) => ({
    challenge: { id: `ch${n}`, type: "http-01", token: `tok${n}`, status: "processing", attempts: 1 } as Challenge,
    authz: { id: `az${n}`, accountId: "acct", status: "pending", identifier: { type: "dns", value: `n${n}.test` } } as Authorization,
  });
  return { validator: createValidator(deps, { pollMs: 3_600_000 }), claims, validations, finished, retried, job };
}

describe("validator slots: hand-offs and scans share validation.concurrency", () => {
  it("a scan claims half the free slots (at least one): the other half is there for challenges answered meanwhile", async () => {
    const { validator, claims } = setup(2);
    expect(validator.reserve()).toBeUndefined(); // not started
    validator.start();
    expect(claims).toHaveLength(1);
    expect(claims[0]!.limit).toBe(1);
    const a = validator.reserve(); // the slot not being claimed
    expect(a).toBeDefined();
    expect(validator.reserve()).toBeUndefined(); // one held, one being claimed
    claims[0]!.answer.resolve([]);
    await tick();
    const b = validator.reserve();
    expect(b).toBeDefined();
    expect(validator.reserve()).toBeUndefined(); // both held
    a!.release();
    expect(validator.reserve()).toBeDefined();
    expect(() => a!.release()).toThrow(/once/);
    await validator.stop(10);
  });

  it("with one slot, none while the scan's claim for it is on its way; the slot again once it claimed nothing", async () => {
    const { validator, claims } = setup(1);
    validator.start();
    expect(claims[0]!.limit).toBe(1);
    expect(validator.reserve()).toBeUndefined();
    claims[0]!.answer.resolve([]);
    await tick();
    expect(validator.reserve()).toBeDefined();
    await validator.stop(10);
  });

  it("a scan that got as many jobs as it asked for claims again at once with what is still free", async () => {
    const { validator, claims } = setup(4);
    validator.start();
    expect(claims[0]!.limit).toBe(2);
    claims[0]!.answer.resolve(["ch1", "ch2"]); // two running now: two free, half of them asked for
    await tick();
    expect(claims).toHaveLength(2);
    expect(claims[1]!.limit).toBe(1);
    claims[1]!.answer.resolve([]);
    await tick();
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

  it("a scan asks only for the slots neither running nor reserved (half of them)", async () => {
    const { validator, claims } = setup(6);
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

describe("a handed-off job's run() resolves with what it recorded (the challenge POST answers with it)", () => {
  async function handOff(opts: { recorded?: boolean; maxAttempts?: number }, result: VaResult) {
    const t = setup(1, opts);
    t.validator.start();
    t.claims[0]!.answer.resolve([]);
    await tick();
    const outcome = t.validator.reserve()!.run(t.job(1));
    await tick();
    t.validations[0]!.answer.resolve(result);
    const done = await outcome;
    await t.validator.stop(10);
    return { ...t, done };
  }

  it("valid: the challenge valid with its validation time, the authorization valid with the valid lifetime", async () => {
    const before = Date.now();
    const { done } = await handOff({}, { records: [] });
    expect(done!.challenge).toMatchObject({ id: "ch1", status: "valid", validationRecord: [] });
    expect(done!.challenge.error).toBeUndefined();
    expect(done!.challenge.validated!.getTime()).toBeGreaterThanOrEqual(before);
    expect(done!.authz.status).toBe("valid");
    expect(done!.authz.expires.getTime() - done!.challenge.validated!.getTime()).toBe(3600 * 1000);
  });

  it("invalid: the problem, with the identifier, on the challenge; the authorization invalid", async () => {
    const problem = { type: "urn:ietf:params:acme:error:unauthorized", detail: "wrong key authorization" };
    const { done } = await handOff({}, { records: [], problem });
    expect(done!.challenge).toMatchObject({ status: "invalid", error: { ...problem, identifier: { type: "dns", value: "n1.test" } } });
    expect(done!.authz.status).toBe("invalid");
  });

  it("a transient failure with attempts left: still processing, with the next attempt and the error (§8.2)", async () => {
    const problem = { type: "urn:ietf:params:acme:error:connection", detail: "refused" };
    const { done, retried, finished } = await handOff({ maxAttempts: 3 }, { records: [], problem });
    expect(finished).toEqual([]);
    expect(retried.map((r) => r.id)).toEqual(["ch1"]);
    expect(done!.challenge).toMatchObject({ status: "processing", nextAttempt: retried[0]!.runAfter, error: { type: problem.type } });
    expect(done!.authz.status).toBe("pending");
  });

  it("nothing recorded (the challenge had moved on): undefined, so the caller reads the stored state", async () => {
    const { done, finished } = await handOff({ recorded: false }, { records: [] });
    expect(finished).toEqual(["ch1"]);
    expect(done).toBeUndefined();
  });
});
