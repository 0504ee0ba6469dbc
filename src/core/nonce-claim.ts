// A request's nonce on its way to being redeemed (RFC 8555 §6.5: each nonce is accepted once).
//
// The nonce service (src/nonce) checks a nonce's seal and age and hands out a claim. A claim redeemed
// in memory (the only instance, SQLite) is settled at once. A claim that must be recorded in the shared
// database (PostgreSQL) starts "pending": the storage layer may carry it in the request's first
// statement (a data-modifying CTE: src/sa), which saves the separate INSERT's round trip; otherwise
// `settle()` records it on its own. Either way a claim is settled before the request changes anything:
// the first statement of a request is a read, or a write that carries the claim itself (a challenge
// answer: the nonce's insert and the guarded UPDATE succeed or fail together; a new order with nothing to
// reuse: the nonce's insert and the order's), and the RA settles (a no-op once carried) before any other
// write.
//
// pending → carrying (one statement has taken it) → redeemed | refused; a carrying statement that fails
// for another reason hands the claim back (pending), and it is recorded alone before any answer.
import { badNonce } from "../errors/index.js";

type State = "pending" | "carrying" | "redeemed" | "refused";

export class NonceClaim {
  #state: State;
  #carried: Promise<void> | undefined;
  #done: (() => void) | undefined;

  /**
   * `record` inserts the nonce into the shared redeemed set: true if it was not there. Without it the
   * claim is already redeemed (in memory, by the nonce service).
   */
  constructor(
    readonly nonce: string,
    readonly expires: Date,
    private readonly record?: () => Promise<boolean>,
  ) {
    this.#state = record ? "pending" : "redeemed";
  }

  get state(): State {
    return this.#state;
  }

  /** Whether nothing more is to be done (redeemed). */
  get redeemed(): boolean {
    return this.#state === "redeemed";
  }

  /** A statement takes the claim along: true once, while pending. Report the outcome with `carried`. */
  take(): boolean {
    if (this.#state !== "pending") return false;
    this.#state = "carrying";
    this.#carried = new Promise<void>((resolve) => (this.#done = resolve));
    return true;
  }

  /** The outcome of the statement that took the claim: true redeemed, false refused (used before), undefined: it failed otherwise. */
  carried(outcome: boolean | undefined): void {
    if (this.#state !== "carrying") throw new Error(`nonce claim reported while ${this.#state}`);
    this.#state = outcome === undefined ? "pending" : outcome ? "redeemed" : "refused";
    this.#done?.();
  }

  /** Resolves once the nonce is redeemed (recording it now if nothing carried it); throws badNonce if it was used before. */
  async settle(): Promise<void> {
    for (;;) {
      switch (this.#state) {
        case "redeemed":
          return;
        case "refused":
          throw badNonce();
        case "carrying":
          await this.#carried;
          continue;
        case "pending": {
          this.take();
          let fresh: boolean;
          try {
            fresh = await this.record!();
          } catch (err) {
            this.carried(undefined);
            throw err;
          }
          this.carried(fresh);
        }
      }
    }
  }
}
