// The background validator: challenges in "processing" are durable jobs in storage. Any instance's
// worker claims a due job (guarded update), asks the VA, and records the outcome once. A crashed
// worker's claim expires and another worker (or the restarted process) resumes the job.
import { addSeconds } from "../core/clock.js";
import { keyAuthorization } from "../core/jwk.js";
import type { Authorization, Challenge, ProblemData } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { audit } from "../log/index.js";
import type { RADeps } from "./deps.js";

const TRANSIENT = new Set(["connection", "dns", "serverInternal"].map((t) => `urn:ietf:params:acme:error:${t}`));

/**
 * What a job this worker ran left its challenge and authorization as, once recorded; undefined when
 * it recorded nothing (the account is gone, or the challenge was no longer processing).
 */
export type JobOutcome = { challenge: Challenge; authz: Authorization } | undefined;

/** A validation slot held for a job the caller is about to start (see `reserve`). */
export interface Reservation {
  /** the claim's expiry, to store with the job as it starts (the claim counts the attempt) */
  lockUntil: Date;
  /**
   * the job was started with this claim: run it here, with what the caller already read. Resolves
   * (never rejects) when the attempt is recorded, so the caller may answer with its outcome.
   */
  run(job: { challenge: Challenge; authz: Authorization }): Promise<JobOutcome>;
  /** the job did not start (lost a race): give the slot back */
  release(): void;
}

export interface Validator {
  wake(): void;
  /**
   * A free slot for a challenge being answered on this instance, or undefined (stopped, or all slots
   * busy: then the job waits in storage for a scan). Saves the scan's claim and read per challenge.
   */
  reserve(): Reservation | undefined;
  start(): void;
  /** stops claiming; waits (bounded) for running validations */
  stop(timeoutMs: number): Promise<void>;
  /** jobs currently running in this process */
  running(): number;
}

export function createValidator(deps: RADeps, opts: { pollMs?: number; retryDelaySeconds?: number } = {}): Validator {
  const { sa, va, clock, log, config, metrics } = deps;
  const { concurrency, timeout, maxAttempts } = config.validation;
  const pollMs = opts.pollMs ?? 1000;
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;
  let scanning = false;
  let rescan = false;
  let pending = true; // due jobs may be waiting that nobody has claimed
  let reserved = 0; // slots handed out by reserve() and not yet running or released
  let claiming = 0; // slots a scan is claiming jobs for right now (not yet in inFlight)

  /** Runs a job this worker has claimed (see scan). */
  async function runJob(id: string): Promise<void> {
    const found = await sa.getChallenge(id);
    if (!found || found.challenge.status !== "processing") return;
    await runClaimed(found);
  }

  /** Runs a claimed job whose challenge and authorization are in hand. */
  async function runClaimed({ challenge, authz }: { challenge: Challenge; authz: Authorization }): Promise<JobOutcome> {
    const id = challenge.id;
    const account = await sa.getAccount(authz.accountId);
    if (!account) return undefined;
    const started = Date.now();
    let result;
    try {
      result = await va.validate({
        type: challenge.type,
        identifier: authz.identifier,
        token: challenge.token,
        keyAuthorization: keyAuthorization(challenge.token, account.jwk),
      });
    } catch (err) {
      log.error({ err, challengeId: id }, "validation crashed");
      result = { records: [], problem: problemData("serverInternal", "the validation failed unexpectedly") };
    }
    const problem: ProblemData | undefined = result.problem && { ...result.problem, identifier: authz.identifier };
    // the claim counted this attempt: `attempts` is how many have been made, this one included
    if (problem && TRANSIENT.has(problem.type) && challenge.attempts < maxAttempts) {
      const delay = (opts.retryDelaySeconds ?? 5) * challenge.attempts;
      const nextAttempt = addSeconds(clock.now(), delay);
      await sa.retryChallengeJob(id, nextAttempt, result.records, problem);
      metrics.validation(challenge.type, "retry", (Date.now() - started) / 1000);
      return { challenge: { ...challenge, nextAttempt, validationRecord: result.records, error: problem }, authz };
    }
    const done = clock.now();
    const authzExpires = addSeconds(done, config.validAuthzLifetime);
    const recorded = await sa.finishChallenge(
      id,
      authz.id,
      problem ? { valid: false, records: result.records, problem } : { valid: true, records: result.records, validated: done, authzExpires },
    );
    metrics.validation(challenge.type, problem ? "invalid" : "valid", (Date.now() - started) / 1000);
    audit(log, {
      event: "authorization.validated",
      authzId: authz.id,
      identifier: `${authz.identifier.type}:${authz.identifier.value}`,
      challenge: challenge.type,
      status: problem ? "invalid" : "valid",
    });
    log.debug({ challengeId: id, ms: Date.now() - started }, "validation finished");
    if (!recorded) return undefined;
    // a finished challenge has no next attempt, and a valid one no error (an earlier attempt's is dropped)
    const { nextAttempt: _next, error: _error, ...rest } = challenge;
    return problem
      ? { challenge: { ...rest, status: "invalid", validationRecord: result.records, error: problem }, authz: settled(authz, "invalid") }
      : { challenge: { ...rest, status: "valid", validated: done, validationRecord: result.records }, authz: settled(authz, "valid", authzExpires) };
  }

  /** the authorization as finishChallenge leaves it: it moves with its challenge only from pending */
  function settled(authz: Authorization, status: "valid" | "invalid", expires?: Date): Authorization {
    if (authz.status !== "pending") return authz;
    return { ...authz, status, ...(expires ? { expires } : {}) };
  }

  async function scan(): Promise<void> {
    if (scanning) {
      rescan = true;
      return;
    }
    scanning = true;
    try {
      do {
        rescan = false;
        const free = concurrency - inFlight.size - reserved;
        if (stopped || free <= 0) break;
        const now = clock.now();
        // Half the free slots (at least one): a challenge answered while the claim is on its way (a query that
        // waits for a pooled connection under load) still finds a slot to start in at once, and its answer can
        // carry the outcome. reserve() must not hand out the slots being claimed.
        const ask = Math.max(1, Math.floor(free / 2));
        claiming = ask;
        // the VA bounds each attempt by `timeout`; the claim outlives it by a margin, then another worker may retry
        const due = await sa.claimDueChallengeJobs(now, addSeconds(now, timeout + 5), ask).finally(() => {
          claiming = 0;
        });
        // fewer than asked for: nothing else is due now; a wake or the timer says when that changes. As many
        // as asked for: more may be due, claimed at once with what is still free.
        pending = due.length >= ask;
        for (const id of due) track(id, runJob(id));
        if (pending) rescan = true;
      } while (rescan);
    } catch (err) {
      log.warn({ err }, "validation queue scan failed");
    } finally {
      scanning = false;
    }
  }

  function track(id: string, run: Promise<unknown>): void {
    const job: Promise<void> = run
      .then(() => undefined)
      .catch((err) => log.error({ err, challengeId: id }, "validation job failed"))
      .finally(() => {
        inFlight.delete(job);
        if (!stopped && pending) void scan(); // a slot is free and jobs may be waiting for one
      });
    inFlight.add(job);
  }

  const scanNow = () => {
    pending = true;
    void scan();
  };

  return {
    wake: scanNow,
    reserve() {
      if (stopped || inFlight.size + reserved + claiming >= concurrency) return undefined;
      reserved++;
      let settled = false;
      const settle = () => {
        if (settled) throw new Error("a validation reservation is used once");
        settled = true;
        reserved--;
      };
      return {
        lockUntil: addSeconds(clock.now(), timeout + 5), // as scan's claim: the VA's bound plus a margin
        run(job) {
          settle();
          const outcome = runClaimed(job);
          track(job.challenge.id, outcome);
          return outcome.catch(() => undefined); // track logs the failure
        },
        release() {
          settle();
          if (pending) void scan();
        },
      };
    },
    start() {
      stopped = false;
      // also how retries (runAfter in the future) and other instances' jobs are found
      timer = setInterval(scanNow, pollMs);
      timer.unref();
      scanNow();
    },
    async stop(timeoutMs) {
      stopped = true;
      if (timer) clearInterval(timer);
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
    running: () => inFlight.size,
  };
}
