// `npm run bench -- [command] [options]`: the load generator and the benchmark scripts built on it.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runLoad, type LoadOptions } from "./load.js";
import { formatResult } from "./report.js";
import { startFixedDns } from "./servers.js";

const HELP = `Usage: npm run bench -- [command] [options]

Commands:
  load (default)  drive complete ACME issuances against a directory URL and print the numbers
  compare         Anvil (SQLite), Anvil (PostgreSQL) and Pebble side by side at several concurrencies
  profile         Anvil under load with --cpu-prof, then a summary by function and package
  queries         SQL statements per certificate (Anvil with a counting hook on the database driver)
  memory          a long run at high concurrency: the RSS curve and the idle RSS after
  size            throughput and start-up time on an empty and on a seeded (large) database
  seed            fill an Anvil database with N accounts/orders/authorizations/challenges/certificates
  sign            the signing worker's work per certificate (CSR parse + leaf issue) on one thread
  summarize       summarize a .cpuprofile file (bench/cpuprofile.ts)

load options:
  --directory URL       ACME directory (required)
  --ca FILE             PEM bundle to trust for the directory's HTTPS
  --concurrency N       workers, one account each (default 8)
  --duration S          measured seconds (default 20 unless --certs is given)
  --certs N             stop after N certificates (bounded by --max-duration, default 600 s)
  --warmup S            discarded warm-up seconds (default 5)
  --poll-cap MS         the longest wait between polls, whatever Retry-After says (default 50)
  --revoke              revoke each certificate after download
  --names N             names per order (default 1)
  --domain D            names are <account label>-<random>.D (default bench.test)
  --responder-port P    the http-01 responder's port: the server's http-01 port (default 5002)
  --dns-port P          also answer DNS (A 127.0.0.1 for every name) on 127.0.0.1:P (UDP), for the
                        server's resolver (ANVIL_DNS_RESOLVER=127.0.0.1:P, pebble -dnsserver 127.0.0.1:P)
  --pid PID             server process for CPU and RSS (from /proc)
  --sample MS           RSS sampling interval (default 1000)
  --idle S              after the load, wait S seconds and report the idle RSS (default 0)
  --json FILE           write the result as JSON
Other commands take --help for their own options.
`;

export const LOAD_OPTIONS = {
  directory: { type: "string" },
  ca: { type: "string" },
  concurrency: { type: "string", default: "8" },
  duration: { type: "string" },
  certs: { type: "string" },
  "max-duration": { type: "string", default: "600" },
  warmup: { type: "string", default: "5" },
  "poll-cap": { type: "string", default: "50" },
  "poll-timeout": { type: "string", default: "60" },
  revoke: { type: "boolean", default: false },
  names: { type: "string", default: "1" },
  domain: { type: "string", default: "bench.test" },
  "responder-port": { type: "string", default: "5002" },
  "dns-port": { type: "string" },
  pid: { type: "string" },
  sample: { type: "string", default: "1000" },
  idle: { type: "string", default: "0" },
  json: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got "${v}"`);
  return n;
}

/** LoadOptions from parsed `load` flags (without the directory and trust, which callers may supply). */
export function loadOptionsFrom(v: Record<string, string | boolean | undefined>): Omit<LoadOptions, "directoryUrl"> {
  const s = (k: string) => v[k] as string | undefined;
  const certificates = num(s("certs"), "certs");
  return {
    concurrency: num(s("concurrency"), "concurrency")!,
    certificates,
    durationS: num(s("duration"), "duration") ?? (certificates === undefined ? 20 : undefined),
    maxDurationS: num(s("max-duration"), "max-duration")!,
    warmupS: num(s("warmup"), "warmup")!,
    pollCapMs: num(s("poll-cap"), "poll-cap")!,
    pollTimeoutMs: num(s("poll-timeout"), "poll-timeout")! * 1000,
    revoke: v.revoke === true,
    namesPerOrder: num(s("names"), "names")!,
    domain: s("domain")!,
    responderPort: num(s("responder-port"), "responder-port"),
    serverPid: num(s("pid"), "pid"),
    sampleMs: num(s("sample"), "sample")!,
    idleS: num(s("idle"), "idle")!,
  };
}

async function load(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: LOAD_OPTIONS });
  if (values.help || !values.directory) {
    console.log(HELP);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const dns = values["dns-port"] ? await startFixedDns(num(values["dns-port"], "dns-port")!) : undefined;
  const result = await runLoad({
    ...loadOptionsFrom(values),
    directoryUrl: values.directory,
    ca: values.ca ? readFileSync(values.ca, "utf8") : undefined,
  }).finally(() => dns?.close());
  console.log(formatResult(result));
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
}

const COMMANDS: Record<string, () => Promise<{ main(argv: string[]): Promise<void> }>> = {
  compare: () => import("./compare.js"),
  profile: () => import("./profile.js"),
  queries: () => import("./queries.js"),
  memory: () => import("./memory.js"),
  size: () => import("./size.js"),
  seed: () => import("./seed.js"),
  sign: () => import("./sign.js"),
  summarize: () => import("./cpuprofile.js"),
};

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") return void console.log(HELP);
  if (first && COMMANDS[first]) return (await COMMANDS[first]()).main(rest);
  return load(first === "load" ? rest : argv);
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
