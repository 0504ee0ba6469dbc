// bench/servers.ts: the generator kills the servers it started when it exits, with one exit listener
// however many servers a run starts one after another (compare starts a dozen; Node warns past ten).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { killOnExit, untilListening } from "../../bench/servers.js";
import { freePort } from "../helpers/tools.js";

describe("killOnExit", () => {
  it("adds one exit listener in all, even when each child has exited before the next starts", async () => {
    const before = process.listenerCount("exit");
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
      killOnExit(child);
      await once(child, "exit");
    }
    expect(process.listenerCount("exit") - before).toBeLessThanOrEqual(1);
  });
});

describe("untilListening", () => {
  it("waits for a server that starts listening late, and gives up on a port nothing listens on", async () => {
    const port = await freePort();
    const server = createServer((s) => s.destroy());
    const late = setTimeout(() => server.listen(port, "127.0.0.1"), 150);
    const t0 = performance.now();
    try {
      await untilListening(port, 5000);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    } finally {
      clearTimeout(late);
      server.close();
    }
    await expect(untilListening(await freePort(), 200)).rejects.toThrow(/nothing listens/);
  });
});
