// A challenge answered while this instance has a free validation slot starts as a job already claimed
// by it (the attempt counted, the claim's lock set) and is validated at once; with every slot busy it
// waits in storage, unclaimed, for the validator's scan. Both end valid, each attempt counted once.
import { createServer, type ServerResponse } from "node:http";
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProc, type InProc } from "../helpers/inproc.js";
import { makeTempDir, removeTempDir } from "../helpers/tools.js";

describe("validation hand-off on the answering instance (validation.concurrency 1)", () => {
  let env: InProc;
  let configDir: string;
  const keyAuths = new Map<string, string>();
  const held: Array<() => void> = []; // answers the responder holds back until the test releases them
  let hold = true;
  const responder = createServer((req, res: ServerResponse) => {
    const answer = () => res.end(keyAuths.get((req.url ?? "").split("/").pop() ?? "") ?? "");
    if (hold) held.push(answer);
    else answer();
  });

  beforeAll(async () => {
    await new Promise<void>((r) => responder.listen(0, "127.0.0.1", r));
    configDir = await makeTempDir("handoff");
    writeFileSync(`${configDir}/anvil.yaml`, "validation:\n  concurrency: 1\n  timeout: 10s\n");
    env = await startInProc({ ANVIL_CONFIG: `${configDir}/anvil.yaml`, ANVIL_HTTP01_PORT: String((responder.address() as AddressInfo).port) });
  });
  afterAll(async () => {
    for (const answer of held.splice(0)) answer();
    await env?.close();
    responder.closeAllConnections();
    responder.close();
    await removeTempDir(configDir);
  });

  it("the first answer is claimed as it starts and validated at once; the second waits for the slot, unclaimed", async () => {
    const client = await env.account();
    const order = await client.newOrder(["first.handoff.test", "second.handoff.test"]);
    expect(order.status).toBe(201);
    const challenges = [];
    for (const url of order.body.authorizations as string[]) {
      const ch = (await client.authz(url)).body.challenges.find((c: { type: string }) => c.type === "http-01");
      keyAuths.set(ch.token, client.keyAuthorization(ch.token));
      challenges.push({ ...ch, id: (ch.url as string).split("/").pop()!, authzUrl: url });
    }
    const [first, second] = challenges;
    const stored = async (c: { id: string }) => (await env.anvil.sa.getChallenge(c.id))!.challenge;

    expect((await client.respond(first.url)).body.status).toBe("processing");
    expect((await stored(first)).attempts).toBe(1); // claimed in the same statement that started it
    while (held.length === 0) await new Promise((r) => setTimeout(r, 10)); // the VA is at the responder

    expect((await client.respond(second.url)).body.status).toBe("processing");
    await new Promise((r) => setTimeout(r, 400)); // several scans (every 100 ms here) with the only slot busy
    expect(held.length).toBe(1);
    expect((await stored(second)).attempts).toBe(0); // not claimed: waiting for the slot

    hold = false;
    held.splice(0).forEach((answer) => answer());
    for (const c of [first, second]) {
      expect((await client.poll(c.authzUrl, ["valid", "invalid"], { timeoutMs: 15_000 })).body.status).toBe("valid");
      expect((await stored(c)).attempts).toBe(1);
    }
  });
});
