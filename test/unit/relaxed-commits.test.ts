// Writes whose commit need not wait for the disk (PostgreSQL's relaxed pool, src/sa/db/sql.ts): a challenge
// start whose answer waits for the outcome, and a finalize's ready → processing. Either may be answered only
// after a durable commit that follows it (the outcome's, the certificate's), or after sa.confirmDurable when
// the answer is still "processing". Storage, validator and CA are fakes here, recording the order of calls;
// the same flows against real PostgreSQL and SQLite are in test/integration/challenge-answer.test.ts and
// finalize tests.
import { describe, expect, it } from "vitest";
import { authorizations } from "../../src/ra/authorizations.js";
import type { RADeps } from "../../src/ra/deps.js";
import { finalizer } from "../../src/ra/finalize.js";
import type { JobOutcome } from "../../src/ra/validator.js";
import type { Account, Authorization, Challenge, Order } from "../../src/core/types.js";
import { keyPair } from "../helpers/keygen.js";

const noop = () => undefined;
const accountJwk = (await keyPair("ec", { namedCurve: "P-256" })).publicKey.export({ format: "jwk" });
const account = { id: "acct", jwk: accountJwk } as unknown as Account;
const challenge = (status: Challenge["status"]) => ({ id: "ch1", type: "http-01", token: "tok", status, attempts: 1 }) as Challenge;
const authz = (status: Authorization["status"], c: Challenge) =>
  ({ id: "az1", accountId: "acct", status, expires: new Date(Date.now() + 3600_000), identifier: { type: "dns", value: "a.test" }, challenges: [c] }) as unknown as Authorization;

/** a recorded outcome: the challenge and its authorization as the job left them */
const recorded = (c: Challenge["status"], a: Authorization["status"]) => async (): Promise<JobOutcome> => {
  const ch = challenge(c);
  return { challenge: ch, authz: authz(a, ch) };
};

function challengeSetup(opts: { answerWithinMs: number; slot: boolean; outcome: () => Promise<JobOutcome> }) {
  const calls: string[] = [];
  const deps = {
    sa: {
      startChallengeFor: async (_id: string, _acct: string, _now: Date, _claim: Date | undefined, _nonce: unknown, o: { relaxed?: boolean } = {}) => {
        calls.push(`start relaxed=${o.relaxed === true}`);
        const c = challenge("processing");
        return { challenge: c, authz: authz("pending", c) };
      },
      confirmDurable: async (table: string, id: string) => void calls.push(`confirm ${table} ${id}`),
    },
    clock: { now: () => new Date() },
    config: { validation: { concurrency: 8, timeout: 10, maxAttempts: 3, answerWithinMs: opts.answerWithinMs } },
  } as unknown as RADeps;
  const validator = {
    wake: () => void calls.push("wake"),
    reserve: () =>
      opts.slot
        ? {
            lockUntil: new Date(Date.now() + 10_000),
            release: noop,
            run: async () => {
              calls.push("run");
              const o = await opts.outcome();
              calls.push("recorded");
              return o;
            },
          }
        : undefined,
  };
  return { ra: authorizations(deps, validator), calls };
}

describe("a challenge start whose answer waits for the outcome is written relaxed", () => {
  it("answered valid: the outcome's durable commit covers the start; no confirmation", async () => {
    const { ra, calls } = challengeSetup({
      answerWithinMs: 1000,
      slot: true,
      outcome: recorded("valid", "valid"),
    });
    const answer = await ra.respond(account, "ch1", {});
    expect(answer.challenge.status).toBe("valid");
    expect(calls).toEqual(["start relaxed=true", "run", "recorded"]);
  });

  it("answered processing (the validation outlasts the wait): the start is confirmed durable before the answer", async () => {
    let finish!: () => void;
    const { ra, calls } = challengeSetup({
      answerWithinMs: 30,
      slot: true,
      outcome: () => new Promise<JobOutcome>((r) => (finish = () => r(undefined))),
    });
    const answer = await ra.respond(account, "ch1", {});
    expect(answer.challenge.status).toBe("processing");
    expect(calls).toEqual(["start relaxed=true", "run", "confirm Challenge ch1"]);
    finish();
  });

  it("answered processing after a recorded retry: confirmed too", async () => {
    const { ra, calls } = challengeSetup({
      answerWithinMs: 1000,
      slot: true,
      outcome: recorded("processing", "pending"),
    });
    expect((await ra.respond(account, "ch1", {})).challenge.status).toBe("processing");
    expect(calls).toEqual(["start relaxed=true", "run", "recorded", "confirm Challenge ch1"]);
  });

  it("no free slot, or no wait (answerWithinMs 0): the start itself is durable", async () => {
    const busy = challengeSetup({ answerWithinMs: 1000, slot: false, outcome: async () => undefined });
    expect((await busy.ra.respond(account, "ch1", {})).challenge.status).toBe("processing");
    expect(busy.calls).toEqual(["start relaxed=false", "wake"]);
    const noWait = challengeSetup({ answerWithinMs: 0, slot: true, outcome: async () => undefined });
    expect((await noWait.ra.respond(account, "ch1", {})).challenge.status).toBe("processing");
    expect(noWait.calls[0]).toBe("start relaxed=false");
    expect(noWait.calls).not.toContain("confirm Challenge ch1");
  });
});

describe("a finalize's ready → processing is written relaxed", () => {
  function finalizeSetup(issue: () => Promise<void>, stored = true, orderName = "a.test") {
    const calls: string[] = [];
    const order = { id: "o1", accountId: "acct", status: "ready", identifiers: [{ type: "dns", value: orderName }], authzIds: ["az1"] } as unknown as Order;
    const deps = {
      sa: {
        claimFinalize: async (_id: string, _acct: string, _csr: Uint8Array, _now: Date, _lock: Date, _nonce: unknown, o: { relaxed?: boolean } = {}) => (
          calls.push(`claim relaxed=${o.relaxed === true}`), { order: { ...order, status: "processing" }, authzs: [], claimed: true }
        ),
        releaseFinalize: async (id: string) => (calls.push(`release ${id}`), true),
        storeCertificate: async () => (calls.push("store"), stored),
        confirmDurable: async (table: string, id: string) => void calls.push(`confirm ${table} ${id}`),
        getOrder: async () => (calls.push("read"), { ...order, status: "processing" }),
      },
      ca: {
        // a CSR that passes the order's checks; the key differs from the account's
        parseCsr: async () => ({ signatureValid: true, otherNames: [], dnsNames: ["a.test"], ipAddresses: [], key: { type: "ec", curve: "P-256" }, spki: new Uint8Array([1, 2, 3]) }),
        issue: async () => (calls.push("sign"), await issue(), { id: "cert1", serial: "1", notAfter: new Date() }),
      },
      clock: { now: () => new Date() },
      log: { info: noop, warn: noop, error: noop, debug: noop },
      metrics: { certificateIssued: noop },
    } as unknown as RADeps;
    const fin = finalizer(deps, async (o) => ({ order: o }) as never);
    return { calls, run: () => fin.finalize(account, "o1", { csr: "AAAA" }, async () => ({ order, authzs: [] }) as never) };
  }

  it("a CSR the order refuses: the claim is released (on the main pool, sa) before the badCSR answer; nothing signed", async () => {
    const { calls, run } = finalizeSetup(async () => undefined, true, "b.test");
    await expect(run()).rejects.toMatchObject({ type: "badCSR" });
    expect(calls).toEqual(["claim relaxed=true", "release o1"]);
  });

  it("issued: the certificate's durable commit covers it; no confirmation", async () => {
    const { calls, run } = finalizeSetup(async () => undefined);
    expect(((await run()) as unknown as { order: Order }).order.status).toBe("valid");
    expect(calls).toEqual(["claim relaxed=true", "sign", "store"]);
  });

  it("signing failed (answered processing, the recovery loop retries): confirmed durable before the answer", async () => {
    const { calls, run } = finalizeSetup(async () => {
      throw new Error("signer down");
    });
    expect(((await run()) as unknown as { order: Order }).order.status).toBe("processing");
    expect(calls).toEqual(["claim relaxed=true", "sign", "confirm Order o1", "read"]);
  });
});
