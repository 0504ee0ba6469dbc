// Starts the built server (`node dist/main.js`) as a real child process on a free loopback port,
// with its own data directory, and waits for the ready line it prints. Used by e2e tests that
// drive real ACME clients against Anvil exactly as a user would run it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "./db.js";
import { startTestDns, type TestDns } from "./dnsserver.js";
import { freePort, makeTempDir, removeTempDir } from "./tools.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MAIN_JS = join(REPO_ROOT, "dist", "main.js");

export interface StartAnvilOptions {
  env?: Record<string, string>; // wins over everything this helper sets
  dataDir?: string; // reuse a data dir (kept on stop); default: a fresh temp dir, removed on stop
  args?: string[]; // default [] (plain `node dist/main.js`); e.g. ["serve"]
  readyTimeoutMs?: number; // default 60 s
  mainJs?: string; // the script to run; default dist/main.js (tests of this helper use a stand-in)
}

export interface AnvilProcess {
  directoryUrl: string;
  baseUrl: string;
  rootPem: string;
  rootPath: string;
  dataDir: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
  logs(): string;
}

const DIRECTORY_LINE = /Anvil directory: (\S+)/;
const ROOT_LINE = /Anvil root certificate: (\S+)/;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns Anvil and resolves once it prints `Anvil directory: <url>`. */
export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilProcess> {
  const mainJs = opts.mainJs ?? MAIN_JS;
  if (!existsSync(mainJs)) throw new Error(`${mainJs} not found: run \`npm run build\` first`);
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await makeTempDir("data"));
  const port = await freePort();
  // In the postgres test project a fresh database per Anvil (unless the test names one, e.g. to share it)
  const db = opts.env?.DATABASE_URL === undefined && ownDataDir ? await createTestDatabase() : undefined;
  const child = spawn(process.execPath, [mainJs, ...(opts.args ?? [])], {
    cwd: dataDir,
    env: anvilEnv(dataDir, port, { ...(db?.url ? { DATABASE_URL: db.url } : {}), ...opts.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  let output = "";
  const lines: string[] = [];
  let partial = "";
  const onData = (chunk: string) => {
    output += chunk;
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  };
  child.stdout!.setEncoding("utf8").on("data", onData);
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<void>((res) => child.once("exit", () => res()));

  const stop = async () => {
    await killChild(child, exited);
    await db?.drop();
    if (ownDataDir) await removeTempDir(dataDir);
  };

  try {
    const directoryUrl = await waitForLine(child, lines, DIRECTORY_LINE, opts.readyTimeoutMs ?? 60_000, () => output);
    const rootLine = lines.map(messageOf).map((l) => ROOT_LINE.exec(l)).find((m) => m !== null);
    const rootPath = rootLine ? rootLine[1] : join(dataDir, "ca", "root.pem");
    const rootPem = await readFile(rootPath, "utf8");
    const baseUrl = new URL(directoryUrl).origin;
    return { directoryUrl, baseUrl, rootPem, rootPath, dataDir, port, child, stop, logs: () => output };
  } catch (err) {
    await stop();
    throw err;
  }
}

function anvilEnv(dataDir: string, port: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // A hermetic start: the developer's own ANVIL_* or DATABASE_URL must not leak into a test server.
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("ANVIL_") && k !== "DATABASE_URL") env[k] = v;
  }
  return {
    ...env,
    ANVIL_DATA_DIR: dataDir,
    ANVIL_LISTEN: `127.0.0.1:${port}`,
    ANVIL_HOSTNAMES: "localhost,127.0.0.1",
    // An IP literal, so no client has to choose between ::1 and 127.0.0.1 for "localhost".
    ANVIL_BASE_URL: `https://127.0.0.1:${port}`,
    ANVIL_LOG_LEVEL: "info",
    ...extra,
  };
}

/** Ready lines may be plain text or the `msg` of a pino JSON line. */
function messageOf(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const obj = JSON.parse(line) as { msg?: unknown };
    return typeof obj.msg === "string" ? obj.msg : line;
  } catch {
    return line;
  }
}

function waitForLine(
  child: ChildProcess,
  lines: string[],
  re: RegExp,
  timeoutMs: number,
  logs: () => string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const check = () => {
      for (; seen < lines.length; seen++) {
        const m = re.exec(messageOf(lines[seen]));
        if (m) return finish(() => resolve(m[1]));
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(() => reject(new Error(`Anvil exited (${code ?? signal}) before it was ready:\n${logs()}`)));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`Anvil not ready after ${timeoutMs} ms:\n${logs()}`))),
      timeoutMs,
    );
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout!.off("data", check);
      child.off("exit", onExit);
      fn();
    };
    // Registered after the line collector, so `lines` already holds the chunk when check runs.
    child.stdout!.on("data", check);
    child.once("exit", onExit);
    check();
  });
}

async function killChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
  live.delete(child);
}

// If a test worker dies without calling stop(), its servers must not outlive it.
function track(child: ChildProcess): void {
  live.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

export interface E2eStack {
  anvil: AnvilProcess;
  dns: TestDns;
  stop(): Promise<void>;
}

/**
 * The usual e2e setup: a test DNS server answering 127.0.0.1 for every name, and Anvil resolving
 * through it and validating http-01 on `http01Port` (where the client's own server listens).
 */
export async function startStack(opts: { http01Port: number; env?: Record<string, string> }): Promise<E2eStack> {
  const dns = await startTestDns({ defaultA: "127.0.0.1" });
  try {
    const anvil = await startAnvil({
      env: { ANVIL_DNS_RESOLVER: dns.address, ANVIL_HTTP01_PORT: String(opts.http01Port), ...opts.env },
    });
    return { anvil, dns, stop: async () => void (await Promise.all([anvil.stop(), dns.close()])) };
  } catch (err) {
    await dns.close();
    throw err;
  }
}
