// The worker channel (src/core/worker.ts) behind the signing and validation threads: answers by id, and a
// worker with nothing to do for `idleMs` is stopped and started afresh by the next request.
import { afterEach, describe, expect, it } from "vitest";
import { workerChannel, type WorkerChannel } from "../../src/core/worker.js";

// replies with its thread id, after `delayMs` when asked to
const ECHO = new URL(
  `data:text/javascript,${encodeURIComponent(`
    import { parentPort, threadId } from "node:worker_threads";
    parentPort.on("message", (m) => setTimeout(() => parentPort.postMessage({ id: m.id, thread: threadId }), m.delayMs ?? 0));
  `)}`,
);

type Req = { id: number; delayMs?: number };
type Res = { id: number; thread: number };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("workerChannel", () => {
  let channel: WorkerChannel<Req, Res> | undefined;
  afterEach(async () => {
    await channel?.close();
  });

  it("keeps one worker while requests come, stops it after idleMs without any, starts a new one on the next", async () => {
    channel = workerChannel<Req, Res>(ECHO, undefined, { name: "echo", idleMs: 150 });
    const first = (await channel.ask((id) => ({ id }))).thread;
    for (let i = 0; i < 3; i++) {
      await sleep(50); // each request re-arms the idle timer
      expect((await channel.ask((id) => ({ id }))).thread).toBe(first);
    }
    await sleep(600);
    const second = (await channel.ask((id) => ({ id }))).thread;
    expect(second).not.toBe(first);
  });

  it("never stops a worker that has a request pending, however long it takes", async () => {
    channel = workerChannel<Req, Res>(ECHO, undefined, { name: "echo", idleMs: 100 });
    const first = (await channel.ask((id) => ({ id }))).thread; // arms the idle timer
    const slow = await channel.ask((id) => ({ id, delayMs: 400 })); // the timer fires meanwhile
    expect(slow.thread).toBe(first);
    expect((await channel.ask((id) => ({ id }))).thread).toBe(first);
  });

  it("answers concurrent requests by id", async () => {
    channel = workerChannel<Req, Res>(ECHO, undefined, { name: "echo", idleMs: 1000 });
    const replies = await Promise.all([300, 0, 150].map((delayMs) => channel!.ask((id) => ({ id, delayMs }))));
    expect(new Set(replies.map((r) => r.id)).size).toBe(3);
  });
});
