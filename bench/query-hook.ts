// Preloaded into an Anvil process by `npm run bench -- queries` (node --import tsx --import <this>):
// counts every SQL statement sent to the database by wrapping the drivers below Prisma's adapters —
// better-sqlite3's Statement#run/get/all/iterate and Database#exec, pg's Client#query — and appends one JSON line per
// statement ([µs on the monotonic clock, driver, SQL head]) to $BENCH_QUERY_LOG.
// It changes nothing in Anvil's code; it is used only for the counting run, never for timings.
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";

const out = process.env.BENCH_QUERY_LOG;
const require = createRequire(import.meta.url);
let buffer: string[] = [];

function record(driver: string, sql: unknown): void {
  const text = typeof sql === "string" ? sql : ((sql as { text?: string } | undefined)?.text ?? String(sql));
  buffer.push(JSON.stringify([Number(process.hrtime.bigint() / 1000n), driver, text.slice(0, 600)]));
}

function flush(): void {
  if (!out || buffer.length === 0) return;
  appendFileSync(out, buffer.join("\n") + "\n");
  buffer = [];
}

if (out) {
  setInterval(flush, 200).unref();
  process.on("exit", flush);

  type Fn = (this: unknown, ...args: unknown[]) => unknown;
  const wrap = (proto: Record<string, unknown>, method: string, driver: string) => {
    const original = proto[method] as Fn;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      record(driver, args[0]);
      return original.apply(this, args);
    };
  };
  // better-sqlite3: count executions (a prepared statement may be cached and run many times), found
  // through the prototype of the first statement prepared
  const Database = require("better-sqlite3") as { prototype: Record<string, unknown> };
  const prepare = Database.prototype.prepare as Fn;
  let statementsWrapped = false;
  Database.prototype.prepare = function (this: unknown, ...args: unknown[]) {
    const stmt = prepare.apply(this, args) as object;
    if (!statementsWrapped) {
      statementsWrapped = true;
      const proto = Object.getPrototypeOf(stmt) as Record<string, unknown>;
      for (const method of ["run", "get", "all", "iterate"]) {
        const original = proto[method] as Fn;
        proto[method] = function (this: { source: string }, ...rest: unknown[]) {
          record("sqlite", this.source);
          return original.apply(this, rest);
        };
      }
    }
    return stmt;
  };
  wrap(Database.prototype, "exec", "sqlite");
  const pg = require("pg") as { Client: { prototype: Record<string, unknown> } };
  wrap(pg.Client.prototype, "query", "pg");
}
