// `npm run bench -- profile`: Anvil under load with `node --cpu-prof`; the main thread's profile is
// cut to the measured window and summarized by package, area and function.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatSummary, summarize, type CpuProfile } from "./cpuprofile.js";
import { runLoad } from "./load.js";
import { formatResult } from "./report.js";
import { startStack, type ServerKind } from "./stack.js";

const HELP = `Usage: npm run bench -- profile [--db sqlite|postgres] [--concurrency 8] [--duration 20] [--warmup 5]
  [--keep DIR] [--json FILE] [--markdown]
Starts Anvil with --cpu-prof, drives it, stops it, and summarizes the main thread's profile over the
measured window. --keep copies the .cpuprofile files to DIR (open them in Chrome DevTools).`;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: "string", default: "sqlite" },
      concurrency: { type: "string", default: "8" },
      duration: { type: "string", default: "20" },
      warmup: { type: "string", default: "5" },
      "poll-cap": { type: "string", default: "50" },
      keep: { type: "string" },
      json: { type: "string" },
      markdown: { type: "boolean" },
      top: { type: "string", default: "30" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const kind: ServerKind = values.db === "postgres" ? "anvil-pg" : "anvil-sqlite";
  const profDir = values.keep ?? (await mkdtemp(join(tmpdir(), "anvil-bench-prof-")));
  const stack = await startStack(kind, { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profDir] });
  let result;
  try {
    result = await runLoad({
      label: `${kind} (profiled)`,
      directoryUrl: stack.server.directoryUrl,
      ca: stack.server.ca,
      responder: stack.responder,
      serverPid: stack.server.pid,
      concurrency: Number(values.concurrency),
      durationS: Number(values.duration),
      maxDurationS: 600,
      warmupS: Number(values.warmup),
      pollCapMs: Number(values["poll-cap"]),
      pollTimeoutMs: 60_000,
      revoke: false,
      namesPerOrder: 1,
      domain: "bench.test",
      sampleMs: 1000,
      idleS: 0,
      quiet: { maxCores: 0.3, maxWaitS: 300 },
    });
  } finally {
    await stack.stop(); // SIGTERM: Anvil exits through process.exit, which writes the profile
  }
  console.log(formatResult(result));
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread
  const files = (await readdir(profDir)).filter((f) => f.includes(`.${stack.server.pid}.0.`) && f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`no main-thread profile of pid ${stack.server.pid} in ${profDir}`);
  const profile = JSON.parse(await readFile(join(profDir, files[0]), "utf8")) as CpuProfile;
  const summary = summarize(profile, Number(values.top), result.monotonicWindowUs);
  const perCert = summary.busyMs / result.certificates;
  console.log(`\nprofile ${join(profDir, files[0])} (measured window only)`);
  console.log(`main-thread busy ${summary.busyMs} ms for ${result.certificates} certificates = ${perCert.toFixed(2)} ms per certificate\n`);
  console.log(formatSummary(summary, { markdown: values.markdown }));
  if (values.json) await writeFile(values.json, JSON.stringify({ load: result, profile: summary }, null, 2));
  if (!values.keep) await rm(profDir, { recursive: true, force: true });
}
