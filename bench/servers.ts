// The servers a benchmark runs against, all on loopback and all stopped by the caller: Anvil from
// `dist/` (SQLite or PostgreSQL), Pebble (Debian package) with a TLS certificate minted here, a
// DNS server answering 127.0.0.1 for every name, and a throw-away PostgreSQL database.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startBenchDns, type BenchDns } from "./dns.js";
import { freePort } from "../test/helpers/tools.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The Anvil entry point: dist/main.js, or BENCH_ANVIL_MAIN (e.g. a snapshot of a build, see README). */
export const MAIN_JS = process.env.BENCH_ANVIL_MAIN ?? join(REPO_ROOT, "dist", "main.js");

export interface Server {
  name: string;
  pid: number;
  directoryUrl: string;
  ca: string; // PEM that the client must trust
  startupMs: number; // spawn → ready line
  dataDir: string;
  logs(): string;
  stop(): Promise<void>;
}

/** A DNS server answering A 127.0.0.1 for every name (bench/dns.ts). */
export function startDns(): Promise<BenchDns> {
  return startBenchDns(0);
}

/**
 * The same answer (A 127.0.0.1 for every name) on a fixed UDP port, for `load` against a server the
 * user started: point its resolver (ANVIL_DNS_RESOLVER, Pebble's -dnsserver) at 127.0.0.1:<port>.
 */
export function startFixedDns(port: number): Promise<BenchDns> {
  return startBenchDns(port);
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `anvil-bench-${prefix}-`));
}

/** Spawns a process and resolves once a line of its output matches `ready`. */
async function spawnUntil(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; ready: RegExp; timeoutMs: number; name: string },
): Promise<{ child: ChildProcess; match: RegExpExecArray; startupMs: number; logs(): string; stop(): Promise<void> }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(child);
  let out = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    }
  };
  const match = await new Promise<RegExpExecArray>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.name} not ready after ${opts.timeoutMs} ms:\n${out}`)), opts.timeoutMs);
    const onData = (d: string) => {
      out += d;
      const m = opts.ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveReady(m);
      }
    };
    child.stdout!.setEncoding("utf8").on("data", onData);
    child.stderr!.setEncoding("utf8").on("data", onData);
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited (${code ?? sig}) before it was ready:\n${out}`));
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  // Keep draining output so the child never blocks on a full pipe, but keep only the last chunks:
  // Pebble logs every request, and re-slicing one big string per chunk cost the generator real CPU.
  const tail: string[] = [out];
  let tailLength = out.length;
  const keep = (d: string) => {
    tail.push(d);
    tailLength += d.length;
    while (tailLength > 200_000 && tail.length > 1) tailLength -= tail.shift()!.length;
  };
  child.stdout!.removeAllListeners("data").on("data", keep);
  child.stderr!.removeAllListeners("data").on("data", keep);
  return { child, match, startupMs: performance.now() - t0, logs: () => tail.join(""), stop };
}

// Children still running are killed when the generator exits: one listener for the whole run.
const children = new Set<ChildProcess>();
process.once("exit", () => children.forEach((c) => c.kill("SIGKILL")));
export function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

export interface AnvilOptions {
  http01Port: number;
  dnsResolver: string; // host:port
  databaseUrl?: string; // default: SQLite in the data dir
  dataDir?: string; // reuse (kept on stop); default: a fresh temp dir, removed on stop
  nodeArgs?: string[]; // e.g. ["--cpu-prof", "--cpu-prof-dir", dir]
  env?: Record<string, string>;
  name?: string;
}

export async function startAnvil(o: AnvilOptions): Promise<Server> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} not found: run \`npm run build\` first`);
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? (await tempDir("anvil"));
  const port = await freePort();
  // A benchmark measures the issuance path: the per-account order limit (300 per 3 h by default) would stop a
  // long run after 300 certificates per worker, so it is switched off here.
  const configFile = join(dataDir, "bench-anvil.yaml");
  writeFileSync(configFile, "rateLimits:\n  newOrdersPerAccount: { limit: 0 }\n");
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ANVIL_") && k !== "DATABASE_URL") env[k] = v;
  Object.assign(env, {
    ANVIL_CONFIG: configFile,
    ANVIL_DATA_DIR: dataDir,
    ANVIL_LISTEN: `127.0.0.1:${port}`,
    ANVIL_HOSTNAMES: "localhost,127.0.0.1",
    ANVIL_BASE_URL: `https://127.0.0.1:${port}`,
    ANVIL_LOG_LEVEL: "warn",
    ANVIL_HTTP01_PORT: String(o.http01Port),
    ANVIL_DNS_RESOLVER: o.dnsResolver,
    ...(o.databaseUrl ? { DATABASE_URL: o.databaseUrl } : {}),
    ...o.env,
  });
  const p = await spawnUntil(process.execPath, [...(o.nodeArgs ?? []), MAIN_JS], {
    cwd: dataDir,
    env,
    ready: /Anvil root certificate: (\S+)/,
    timeoutMs: 120_000,
    name: "anvil",
  });
  const directoryUrl = /Anvil directory: (\S+)/.exec(p.logs())?.[1] ?? `https://127.0.0.1:${port}/directory`;
  return {
    name: o.name ?? "anvil",
    pid: p.child.pid!,
    directoryUrl,
    ca: await readFile(p.match[1], "utf8"),
    startupMs: p.startupMs,
    dataDir,
    logs: p.logs,
    stop: async () => {
      await p.stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh PostgreSQL database on the server of BENCH_PG_URL (an admin URL; default 127.0.0.1:5432, user
 * postgres, trust auth); drop() removes it.
 */
export async function createPgDatabase(base = process.env.BENCH_PG_URL || "postgresql://postgres@127.0.0.1:5432/postgres"): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `anvil_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Debian's pebble ships without its test certificates (test/certs is not installed), so a CA and a
 * certificate for 127.0.0.1/localhost are minted here with openssl and given to Pebble's config.
 */
async function mintTlsCert(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench pebble TLS CA"]);
  run(["req", ...ec, "-keyout", "key.pem", "-out", "tls.csr", "-subj", "/CN=localhost"]);
  await writeFile(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run(["x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf"]);
  return { ca: await readFile(join(dir, "ca.pem"), "utf8"), cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects after `timeoutMs`. */
export async function untilListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (performance.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startPebble(o: { httpPort: number; dnsServer: string; env?: Record<string, string> }): Promise<Server> {
  const dir = await tempDir("pebble");
  const tls = await mintTlsCert(dir);
  const [port, mgmt, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: tls.cert,
      privateKey: tls.key,
      httpPort: o.httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  await writeFile(join(dir, "pebble-config.json"), JSON.stringify(config, null, 2));
  const p = await spawnUntil("pebble", ["-config", join(dir, "pebble-config.json"), "-dnsserver", o.dnsServer], {
    cwd: dir,
    // NOSLEEP: no random 0–15 s before each validation; NONCEREJECT=0: no deliberately rejected nonces
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0", ...o.env },
    ready: /Listening on: /,
    timeoutMs: 30_000,
    name: "pebble",
  });
  // Pebble prints its "Listening on" line just before it starts listening
  try {
    await untilListening(port, 10_000);
  } catch (err) {
    await p.stop();
    throw new Error(`pebble: ${(err as Error).message}:\n${p.logs()}`);
  }
  return {
    name: "pebble",
    pid: p.child.pid!,
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    ca: tls.ca,
    startupMs: p.startupMs,
    dataDir: dir,
    logs: p.logs,
    stop: async () => {
      await p.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
