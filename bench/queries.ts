// `npm run bench -- queries`: SQL statements per certificate. Anvil runs with bench/query-hook.ts
// preloaded (it logs each statement with a monotonic timestamp); the generator issues certificates
// one at a time and logs each request's time span, so every statement is attributed to the request
// during which it ran, or to "between requests" (the background validator, timers).
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { AcmeSession, createHttp } from "./client.js";
import { certificateFlow } from "./flow.js";
import { startStack, type ServerKind } from "./stack.js";
import { markdownTable, Recorder, table } from "./stats.js";

const HELP = `Usage: npm run bench -- queries [--db sqlite|postgres|both] [--certs 50] [--warmup 5] [--revoke] [--markdown]
Counts SQL statements per certificate (BEGIN/COMMIT included), by request and by statement; on PostgreSQL
also the log flushes (pg_stat_wal.wal_sync: commits that waited for the disk, and the WAL writer's own flushes
of the commits that did not) and the commits (pg_stat_database.xact_commit) per certificate.`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "SELECT Order", "INSERT Certificate", "BEGIN", ... */
export function statementKind(sql: string): string {
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? "?";
  if (!["SELECT", "INSERT", "UPDATE", "DELETE"].includes(verb)) return verb;
  // Prisma qualifies every column and table (`main`.`Order`.`id`, "public"."Order"."id"): the first
  // qualified name is the table, even when the logged SQL head stops before FROM
  const qualified = /[`"](?:main|public)[`"]\.[`"](\w+)[`"]/.exec(sql)?.[1];
  // hand-written SQL names tables plainly: FROM "Authorization" a JOIN "Challenge" c
  const plain = /\b(?:FROM|INTO|UPDATE)\s+[`"](\w+)[`"]/i.exec(sql)?.[1];
  const join = /\bJOIN\s+[`"](\w+)[`"]/i.exec(sql)?.[1];
  const table = qualified ?? (plain ? `${plain}${join ? `+${join}` : ""} (raw)` : "?");
  const count = /^\s*SELECT\s+COUNT\(/i.test(sql) ? " (count)" : "";
  return `${verb} ${table}${count}`;
}

interface QueryCounts {
  kind: ServerKind;
  certificates: number;
  statements: number;
  byRequest: Record<string, number>; // statements per certificate
  requestsPerCert: Record<string, number>;
  byStatement: Record<string, number>; // statements per certificate
  /** each request kind's most common count of statements in one request: a timer's statement that lands inside one request does not move it */
  typicalPerRequest: Record<string, number>;
  idlePerSecond: number;
  /** PostgreSQL: per certificate over the measured certificates (pg_stat_wal is the whole server's) */
  wal?: { flushes: number; commits: number };
}

/** pg_stat_wal's flushes and this database's commits so far (the statistics are cumulative) */
async function walCounters(url: string): Promise<{ flushes: number; commits: number }> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ flushes: string; commits: string }>(
      `SELECT (SELECT wal_sync FROM pg_stat_wal) AS flushes, (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits`,
    );
    return { flushes: Number(rows[0]!.flushes), commits: Number(rows[0]!.commits) };
  } finally {
    await client.end();
  }
}

/** The most common value (the smallest of those tied). */
export function mode(values: number[]): number {
  const seen = new Map<number, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  return [...seen].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? NaN;
}

/** Statements a certificate costs on `kind` (a fresh server started here, with `env`, and stopped after), `certs` certificates one at a time. */
export async function countStatements(kind: ServerKind, certs: number, warmup: number, revoke: boolean, env: Record<string, string> = {}): Promise<QueryCounts> {
  const log = join(tmpdir(), `anvil-bench-queries-${process.pid}-${Date.now()}.jsonl`);
  // resolved through require and URL, not import.meta.resolve/dirname: the test runner's module loader has neither
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const hook = new URL("./query-hook.ts", import.meta.url).href;
  const stack = await startStack(kind, { nodeArgs: ["--import", tsx, "--import", hook], env: { ...env, BENCH_QUERY_LOG: log } });
  const { http, close } = createHttp({ ca: stack.server.ca });
  try {
    const rec = new Recorder();
    const s = new AcmeSession(http, await AcmeSession.directoryOf(http, stack.server.directoryUrl), rec);
    await s.register();
    const flow = { domain: "bench.test", namesPerOrder: 1, pollCapMs: 50, pollTimeoutMs: 30_000, revoke };
    for (let i = 0; i < warmup; i++) await certificateFlow(s, stack.responder, flow);
    await sleep(1500);
    rec.trace = [];
    // statistics reach the views with a delay (stats_fetch_consistency, the backends' own flush): the snapshots
    // are taken after a pause, and the few statements of the pause and of the snapshots count too
    const wal0 = stack.databaseUrl ? await walCounters(stack.databaseUrl) : undefined;
    const t0 = Number(process.hrtime.bigint() / 1000n);
    for (let i = 0; i < certs; i++) await certificateFlow(s, stack.responder, flow);
    const t1 = Number(process.hrtime.bigint() / 1000n);
    await sleep(1000);
    const wal1 = stack.databaseUrl ? await walCounters(stack.databaseUrl) : undefined;
    // the last validation and timers settled above; now watch an idle server for 5 s
    const idle0 = Number(process.hrtime.bigint() / 1000n);
    await sleep(5000);
    const idle1 = Number(process.hrtime.bigint() / 1000n);
    await sleep(500); // the hook flushes every 200 ms
    const lines = (await readFile(log, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as [number, string, string]);
    const trace = rec.trace;
    const byRequest = new Map<string, number>();
    const byStatement = new Map<string, number>();
    const inRequest = trace.map(() => 0);
    let statements = 0;
    let j = 0;
    for (const [t, , sql] of lines) {
      if (t < t0 || t > t1) continue;
      statements++;
      while (j < trace.length && trace[j].end < t) j++;
      const inside = j < trace.length && trace[j].start <= t;
      if (inside) inRequest[j]++;
      const req = inside ? trace[j].kind : "between requests (validator, timers)";
      byRequest.set(req, (byRequest.get(req) ?? 0) + 1);
      const k = statementKind(sql);
      byStatement.set(k, (byStatement.get(k) ?? 0) + 1);
    }
    const requests = new Map<string, number>();
    const perInstance = new Map<string, number[]>();
    trace.forEach((r, i) => {
      requests.set(r.kind, (requests.get(r.kind) ?? 0) + 1);
      const counts = perInstance.get(r.kind) ?? [];
      counts.push(inRequest[i]!);
      perInstance.set(r.kind, counts);
    });
    const per = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / certs]));
    return {
      kind,
      certificates: certs,
      statements,
      byRequest: per(byRequest),
      requestsPerCert: per(requests),
      byStatement: per(byStatement),
      typicalPerRequest: Object.fromEntries([...perInstance].map(([k, v]) => [k, mode(v)])),
      idlePerSecond: lines.filter(([t]) => t >= idle0 && t <= idle1).length / ((idle1 - idle0) / 1e6),
      wal: wal0 && wal1 ? { flushes: (wal1.flushes - wal0.flushes) / certs, commits: (wal1.commits - wal0.commits) / certs } : undefined,
    };
  } finally {
    close();
    await stack.stop();
    if (!process.env.BENCH_KEEP_QUERY_LOG) await rm(log, { force: true });
  }
}

function format(c: QueryCounts, markdown: boolean): string {
  const t = markdown ? markdownTable : table;
  const f = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const out = [
    `${c.kind}: ${c.statements} statements for ${c.certificates} certificates = ${f(c.statements / c.certificates)} per certificate (BEGIN/COMMIT included)`,
    `idle server: ${c.idlePerSecond.toFixed(1)} statements/s (background timers)`,
    ...(c.wal ? [`PostgreSQL per certificate: ${c.wal.flushes.toFixed(2)} log flushes (pg_stat_wal.wal_sync), ${c.wal.commits.toFixed(2)} commits`] : []),
    "",
    t(
      ["during request", "requests / cert", "statements / cert", "typical request"],
      Object.entries(c.byRequest).map(([k, v]) => [k, f(c.requestsPerCert[k] ?? 0), f(v), k in c.typicalPerRequest ? String(c.typicalPerRequest[k]) : "-"]),
    ),
    "",
    t(["statement", "per cert"], Object.entries(c.byStatement).map(([k, v]) => [k, f(v)])),
  ];
  return out.join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: "string", default: "both" },
      certs: { type: "string", default: "50" },
      warmup: { type: "string", default: "5" },
      revoke: { type: "boolean", default: false },
      markdown: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const kinds: ServerKind[] = values.db === "both" ? ["anvil-sqlite", "anvil-pg"] : [values.db === "postgres" ? "anvil-pg" : "anvil-sqlite"];
  for (const kind of kinds) {
    const c = await countStatements(kind, Number(values.certs), Number(values.warmup), values.revoke);
    console.log(format(c, values.markdown) + "\n");
  }
}
