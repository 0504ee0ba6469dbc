// Authorizations and challenges (RFC 8555 §7.5): reads with the RFC's states, deactivation, and the
// challenge response that turns a challenge into a durable validation job.
import type { NonceClaim } from "../core/nonce-claim.js";
import { effectiveAuthzStatus } from "../core/status.js";
import type { Account, Authorization, Challenge } from "../core/types.js";
import { malformed, notFound, unauthorized } from "../errors/index.js";
import type { RADeps } from "./deps.js";
import { isObject } from "./payload.js";
import type { JobOutcome, Validator } from "./validator.js";

/** The outcome if it comes within `ms`, else undefined (the job itself goes on). */
function within(outcome: Promise<JobOutcome>, ms: number): Promise<JobOutcome> {
  if (ms <= 0) return Promise.resolve(undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([outcome, late]).finally(() => clearTimeout(timer));
}

export function authorizations(deps: RADeps, validator: Pick<Validator, "wake" | "reserve">) {
  const { sa, clock } = deps;

  const withStatus = (a: Authorization): Authorization => ({ ...a, status: effectiveAuthzStatus(a, clock.now()) });

  function owned(account: Account, a: { accountId: string }) {
    if (a.accountId !== account.id) throw unauthorized("this authorization belongs to another account");
  }

  // `nonce`: the request's nonce claim, carried by the read (sa) and settled before any write
  async function load(account: Account, id: string, nonce?: NonceClaim): Promise<Authorization> {
    const a = await sa.getAuthz(id, nonce);
    if (!a) throw notFound("authorization");
    owned(account, a);
    return withStatus(a);
  }

  /**
   * pending → processing if the challenge is the account's and it and its authorization are pending and
   * unexpired; with a free validation slot here the job starts claimed by this instance and runs at once,
   * and the answer waits for its outcome up to validation.answerWithinMs (then it is "processing", and
   * the job goes on). Undefined if nothing started.
   */
  async function start(account: Account, id: string, nonce?: NonceClaim): Promise<{ challenge: Challenge; authz: Authorization } | undefined> {
    const slot = validator.reserve();
    const waitMs = deps.config.validation.answerWithinMs;
    // When the answer waits for the outcome, the start's commit need not wait for the disk: the outcome's
    // durable commit follows it before the answer, and an answer that is still "processing" confirms the
    // start first (sa.confirmDurable). A crash before either loses a start that no client was told of.
    const relaxed = slot !== undefined && waitMs > 0;
    const started = await sa.startChallengeFor(id, account.id, clock.now(), slot?.lockUntil, nonce, { relaxed }).catch((err: unknown) => {
      slot?.release();
      throw err;
    });
    if (!started) {
      slot?.release();
      return undefined;
    }
    if (!slot) {
      validator.wake();
      return { challenge: started.challenge, authz: withStatus(started.authz) };
    }
    const done = await within(slot.run(started), waitMs);
    const now = done ?? started;
    // still under way (slower than the wait, or a retry is due): the job itself must survive a crash
    if (relaxed && now.challenge.status === "processing") await sa.confirmDurable("Challenge", id);
    return { challenge: now.challenge, authz: withStatus(now.authz) };
  }

  return {
    getAuthz: load,

    /** POST to the authorization URL: POST-as-GET, or {"status":"deactivated"} (§7.5.2). */
    async updateAuthz(account: Account, id: string, payload: unknown, nonce?: NonceClaim): Promise<Authorization> {
      const a = await load(account, id, nonce);
      await nonce?.settle();
      if (payload === undefined) return a;
      if (!isObject(payload) || payload.status !== "deactivated") {
        throw malformed('the only change a client may make to an authorization is {"status": "deactivated"}');
      }
      if (a.status !== "pending" && a.status !== "valid") {
        throw malformed(`an authorization that is ${a.status} cannot be deactivated`);
      }
      if (!(await sa.deactivateAuthz(id))) throw malformed("the authorization changed state; fetch it again");
      return { ...a, status: "deactivated" };
    },

    async getChallenge(account: Account, id: string, nonce?: NonceClaim): Promise<{ challenge: Challenge; authz: Authorization }> {
      const found = await sa.getChallenge(id, nonce);
      if (!found) throw notFound("challenge");
      owned(account, found.authz);
      return { challenge: found.challenge, authz: withStatus(found.authz) };
    },

    /**
     * POST {} to a challenge (§7.5.1): pending → processing, queued for the validator. Responding
     * again to a challenge already under way or finished answers its current state.
     */
    async respond(account: Account, id: string, payload: unknown, nonce?: NonceClaim): Promise<{ challenge: Challenge; authz: Authorization }> {
      // the usual case first, in one storage step: the account's pending challenge starts
      if (isObject(payload)) {
        const started = await start(account, id, nonce);
        if (started) return started;
      }
      const current = await this.getChallenge(account, id, nonce);
      await nonce?.settle();
      if (payload === undefined) return current;
      if (!isObject(payload)) throw malformed("a challenge response must be a JSON object, usually {}");
      if (current.challenge.status === "processing") {
        // RFC 8555 §8.2: a client that responds again asks for a retry now; attempts stay bounded by maxAttempts
        if (await sa.expediteChallenge(id, clock.now())) {
          validator.wake();
          return { ...current, challenge: { ...current.challenge, nextAttempt: clock.now() } };
        }
        return current;
      }
      if (current.challenge.status !== "pending") return current;
      if (current.authz.status !== "pending") {
        throw malformed(`the authorization is ${current.authz.status}; its challenges can no longer be answered`);
      }
      // startable, yet it did not start a moment ago: it changed in between; try once more
      return (await start(account, id)) ?? this.getChallenge(account, id); // lost a race: answer what happened instead
    },
  };
}
