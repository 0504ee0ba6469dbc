// What one certificate costs PostgreSQL in statements, each a round trip from the request thread (docs/performance.md):
// one per request, carrying the request's nonce, plus the challenge's outcome (the challenge POST waits for it) and the
// certificate's insert with the order's move to valid. Counted by the benchmark's own counter (bench/queries.ts: a
// real Anvil process started from dist/ with bench/query-hook.ts preloaded, every statement its drivers send, each
// attributed to the request during which it ran), one certificate at a time. PostgreSQL only (vitest.config.ts):
// SQLite runs in the process, with no round trips to count.
import { describe, expect, it } from "vitest";
import { countStatements } from "../../bench/queries.js";

describe("PostgreSQL: statements per certificate", () => {
  it("newOrder 1, authorization 1, challenge 2 (start, outcome), finalize 2 (claim, certificate), certificate 1", async () => {
    // the challenge POST waits up to 10 s for its outcome (default 1 s): on a loaded CI machine a validation can take
    // over a second, and that challenge would be answered "processing" and polled, which is right but not counted here
    const c = await countStatements("anvil-pg", 6, 2, false, { ANVIL_ANSWER_WITHIN_MS: "10000" });
    // the most common count per request: a background timer's statement that lands inside one request does not move it
    expect(c.typicalPerRequest).toEqual({ newOrder: 1, authz: 1, challenge: 2, finalize: 2, certificate: 1 });
    expect(c.requestsPerCert).toEqual({ newOrder: 1, authz: 1, challenge: 1, finalize: 1, certificate: 1 });
  }, 120_000);
});
