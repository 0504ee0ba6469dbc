// V8's old-generation growing factor pinned at start-up (src/core/idle.ts pinHeapGrowth). Observed in a real
// node process through --trace-gc-verbose, which prints the factor behind every limit V8 sets after a full
// collection: "[HeapController] Limit: old size: … KB, new limit: … KB (1.3)".
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, setsHeapGrowth } from "../../src/core/idle.js";

const IDLE_TS = fileURLToPath(new URL("../../src/core/idle.ts", import.meta.url));

// Allocates ~600 MB in short-lived objects over a live set of ~10 MB: several full collections.
const SCRIPT = `
import { pinHeapGrowth } from ${JSON.stringify(IDLE_TS)};
if (process.env.PIN === "1") console.log("pinned=" + pinHeapGrowth());
let keep = [];
for (let i = 0; i < 4e6; i++) {
  keep.push({ a: i, b: "x" + i });
  if (keep.length > 2e5) keep = keep.slice(1e5);
}`;

/** The factors (one per full collection of the main isolate) and what the script printed. */
function run(pin: boolean, nodeFlags: string[] = []): { factors: number[]; stdout: string } {
  const r = spawnSync(process.execPath, ["--trace-gc-verbose", ...nodeFlags, "--import", "tsx", "--input-type=module", "-e", SCRIPT], {
    encoding: "utf8",
    env: { ...process.env, PIN: pin ? "1" : "0" },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const factors = [...r.stdout.matchAll(/\[HeapController\] Limit: old size: \d+ KB, new limit: \d+ KB \(([\d.]+)\)/g)].map((m) => Number(m[1]));
  return { factors, stdout: r.stdout };
}

describe("pinHeapGrowth", () => {
  it("without it V8 picks its own factor: its maximum at the first collection, before it has a speed to go by", () => {
    const { factors } = run(false);
    expect(factors.length).toBeGreaterThanOrEqual(2);
    // 4.0 where node's heap limit is ≥ 2 GB, as here; lower on a machine with little memory
    expect(factors[0]).toBeGreaterThan(1 + HEAP_GROWING_PERCENT / 100);
  });

  it("pins every later limit at 1 + HEAP_GROWING_PERCENT/100, in a process that started without the flag", () => {
    const { factors, stdout } = run(true);
    expect(stdout).toContain("pinned=true");
    expect(factors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(factors)).toEqual(new Set([1 + HEAP_GROWING_PERCENT / 100]));
  });

  it("leaves an operator's own --heap-growing-percent on node's command line alone", () => {
    const { factors, stdout } = run(true, ["--heap-growing-percent=50"]);
    expect(stdout).toContain("pinned=false");
    expect(factors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(factors)).toEqual(new Set([1.5]));
  });

  it("recognises the flag in both spellings and only as itself", () => {
    expect(setsHeapGrowth(["--heap_growing_percent=10"])).toBe(true);
    expect(setsHeapGrowth(["--heap-growing-percent", "10"])).toBe(true);
    expect(setsHeapGrowth(["--heap-growing-percentage=10", "--max-old-space-size=512"])).toBe(false);
    expect(setsHeapGrowth([])).toBe(false);
  });
});
