// Giving memory back after a burst. V8 keeps the heap it grew to under load until something makes it
// collect, and an idle server allocates nothing, so nothing does: the request thread would stay at its
// peak size indefinitely. Once requests stop for `idleMs`, one full collection (tens of ms, with no
// request waiting) returns the unused heap to the system. The worker threads do the same by stopping
// (core/worker.ts).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** How long the server (and each worker thread) must have nothing to do before it gives memory back. */
export const IDLE_MS = 30_000;

export interface IdleTrim {
  /** a request arrived: cheap, called for every one */
  touch(): void;
  stop(): void;
}

/** `global.gc`, exposing it if node was started without --expose-gc. */
export function fullCollection(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

export function createIdleTrim(idleMs: number, trim: () => void = fullCollection()): IdleTrim {
  const tickMs = Math.max(1, Math.floor(idleMs / 4));
  let active = false; // a request since the last tick
  let quietTicks = 0;
  let trimmed = true; // nothing to give back before the first request
  const timer = setInterval(() => {
    if (active) {
      active = false;
      quietTicks = 0;
      trimmed = false;
      return;
    }
    if (trimmed || ++quietTicks * tickMs < idleMs) return;
    trimmed = true;
    trim();
  }, tickMs);
  timer.unref();
  return {
    touch: () => {
      active = true;
    },
    stop: () => clearInterval(timer),
  };
}
