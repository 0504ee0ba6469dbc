// bench/servers.ts: the generator kills the servers it started when it exits, with one exit listener
// however many servers a run starts one after another (compare starts a dozen; Node warns past ten).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { killOnExit } from "../../bench/servers.js";

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
