// Giving memory back after a burst. V8 keeps the heap it grew to under load until something makes it
// collect, and an idle server allocates nothing, so nothing does: the request thread would stay at its
// peak size indefinitely. Once requests stop for `idleMs`, one full collection (tens of ms, with no
// request waiting) returns the unused heap to the system. The worker threads do the same by stopping
// (core/worker.ts). Under load, pinHeapGrowth (below) bounds how far a heap grows between collections.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** How long the server (and each worker thread) must have nothing to do before it gives memory back. */
export const IDLE_MS = 30_000;

export interface IdleTrim {
  /** a request arrived: cheap, called for every one */
  touch(): void;
  stop(): void;
}

/** V8's old-generation growing factor as Anvil pins it (1 + percent / 100), unless the operator chose one. */
export const HEAP_GROWING_PERCENT = 30;

/**
 * Pins how far V8 lets a heap grow past what its last full collection kept. V8 picks the factor from how fast
 * its last collection ran against how fast the program allocates: under steady load that is 1.1, but a
 * collection slowed by two busy cores can make it 2 to 4, and the request thread's heap then fills with promoted
 * garbage (34 to 68 MB, +35 to 50 MB of RSS for half a minute) before the next one (docs/performance.md,
 * session 8). 1.3 is V8's own conservative factor. The flag is read at every full collection and is
 * process-wide, so the worker threads get it too. An operator's own `--heap-growing-percent` on node's command
 * line wins (NODE_OPTIONS cannot carry V8 flags): then nothing is set and false comes back.
 */
export function pinHeapGrowth(percent = HEAP_GROWING_PERCENT, execArgv: readonly string[] = process.execArgv): boolean {
  if (setsHeapGrowth(execArgv)) return false;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}

/** Whether node's arguments already set the growing factor (V8 takes both spellings). */
export function setsHeapGrowth(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
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
