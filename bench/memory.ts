// `npm run bench -- memory`: a long run at high concurrency, the server's RSS sampled every 5 s, then
// the RSS after an idle period. A leak shows as a curve that keeps rising at a steady load.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { runLoad } from "./load.js";
import { readProc, round1 } from "./procstat.js";
import { formatResult } from "./report.js";
import { startStack, type ServerKind } from "./stack.js";
import { markdownTable, table } from "./stats.js";

const HELP = `Usage: npm run bench -- memory [--db sqlite|postgres] [--concurrency 32] [--duration 150] [--sample 5000]
  [--idle 60] [--json FILE] [--markdown]`;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: "string", default: "sqlite" },
      concurrency: { type: "string", default: "32" },
      duration: { type: "string", default: "150" },
      sample: { type: "string", default: "5000" },
      idle: { type: "string", default: "60" },
      json: { type: "string" },
      markdown: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const kind: ServerKind = values.db === "postgres" ? "anvil-pg" : "anvil-sqlite";
  const stack = await startStack(kind);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const startRss = round1(readProc(stack.server.pid)?.rssMB ?? NaN);
    const result = await runLoad({
      label: `${kind} memory`,
      directoryUrl: stack.server.directoryUrl,
      ca: stack.server.ca,
      responder: stack.responder,
      serverPid: stack.server.pid,
      concurrency: Number(values.concurrency),
      durationS: Number(values.duration),
      maxDurationS: 3600,
      warmupS: 0, // memory from the first request on
      pollCapMs: 50,
      pollTimeoutMs: 60_000,
      revoke: false,
      namesPerOrder: 1,
      domain: "bench.test",
      sampleMs: Number(values.sample),
      idleS: Number(values.idle),
      quiet: { maxCores: 0.3, maxWaitS: 300 },
    });
    console.log(formatResult(result));
    const t = values.markdown ? markdownTable : table;
    const loadEnd = result.windowS;
    const rows = (result.server?.rss ?? []).map((s) => [s.t.toFixed(0), s.rssMB.toFixed(1), s.t <= loadEnd + 0.5 ? "load" : "idle"]);
    console.log(`\nRSS after start-up, before the load: ${startRss} MB\n`);
    console.log(t(["t (s)", "RSS MB", "phase"], rows));
    console.log(`\nidle RSS ${values.idle} s after the load: ${result.server?.idleRssMB} MB; VmHWM ${result.server?.hwmMB} MB`);
    if (values.json) await writeFile(values.json, JSON.stringify({ startRss, result }, null, 2));
  } finally {
    await stack.stop();
  }
}
