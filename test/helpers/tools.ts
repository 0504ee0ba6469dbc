// Small process and openssl helpers for the e2e tests: find binaries, run them without a shell,
// pick free loopback ports, read certificates with the real openssl CLI (an independent
// implementation, so a test does not check Anvil's X.509 output with Anvil's own libraries), and
// make HTTPS requests that trust a given CA.
import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The absolute path of an executable on PATH, or null. */
export function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

export interface Tool {
  bin: string;
  apt: string; // the Debian package that provides it
}

/**
 * Decides whether an e2e file can run. In CI (process.env.CI set) a missing tool is an error, so
 * CI can never pass by skipping; elsewhere the file is skipped with a message naming the package.
 * Returns true when the suite must be skipped.
 */
export function requireTools(suite: string, tools: Tool[]): boolean {
  const missing = tools.filter((t) => which(t.bin) === null);
  if (missing.length === 0) return false;
  const names = missing.map((t) => t.bin).join(", ");
  const pkgs = [...new Set(missing.map((t) => t.apt))].join(" ");
  const msg = `${suite}: missing ${names}; install with: apt-get install -y --no-install-recommends ${pkgs}`;
  if (process.env.CI) throw new Error(`${msg} (CI must not skip e2e tests)`);
  console.warn(`skipping ${msg}`);
  return true;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  command: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv; // replaces the environment (merge with process.env yourself)
  cwd?: string;
  timeoutMs?: number; // default 120 s; the child is killed after it
  input?: string;
}

/** Runs a command without a shell and never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = [cmd, ...args].join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, command });
    });
  });
}

/** Like run(), but throws with the command's whole output when it does not exit 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(describeRun(r));
  return r;
}

export function describeRun(r: RunResult): string {
  return `${r.command}\nexit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Listens on `port` at `host` (0: the kernel picks) and closes at once: the port it had, or undefined if it could not. */
function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(undefined));
    srv.listen(port, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(addr && typeof addr === "object" ? addr.port : undefined));
    });
  });
}

/** The first port of the kernel's ephemeral range, from which outgoing connections take their local ports. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768; // not Linux: Linux's default
  }
}

/**
 * A port that was free on the host a moment ago, picked at random below the kernel's ephemeral range. A port
 * the kernel hands out (listen on 0) comes from that range, and once released the next outgoing connection (to
 * PostgreSQL, say) may take it as its local port before the server under test binds it: EADDRINUSE, seen in a full
 * test run. Ports below the range are never taken that way.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const low = ephemeralLow();
  for (let i = 0; low > 11_000 && i < 100; i++) {
    const port = await tryListen(10_000 + Math.floor(Math.random() * (low - 10_000)), host);
    if (port !== undefined) return port;
  }
  const picked = await tryListen(0, host); // no room below the range: the kernel's pick, as before
  if (picked === undefined) throw new Error(`no free port on ${host}`);
  return picked;
}

export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `anvil-${prefix}-`));
}

/** Removes a temp dir, unless ANVIL_TEST_KEEP_DATA is set (to look at a failed run's files). */
export async function removeTempDir(dir: string | undefined): Promise<void> {
  if (dir && !process.env.ANVIL_TEST_KEEP_DATA) await rm(dir, { recursive: true, force: true });
}

/** Splits a PEM bundle into its certificates, each with its BEGIN/END lines. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The DER bytes of the first certificate in a PEM text. */
export function pemToDer(pem: string): Uint8Array {
  const first = splitPem(pem)[0];
  if (!first) throw new Error("no certificate in PEM text");
  return new Uint8Array(Buffer.from(first.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64"));
}

async function openssl(args: string[], input?: string): Promise<string> {
  return (await runOk("openssl", args, { input, timeoutMs: 30_000 })).stdout;
}

/** `openssl verify -CAfile root -untrusted chain cert`; returns the result without throwing. */
export function opensslVerify(rootPath: string, chainPath: string, certPath: string): Promise<RunResult> {
  return run("openssl", ["verify", "-CAfile", rootPath, "-untrusted", chainPath, certPath]);
}

/** The subjectAltName entries, e.g. ["DNS:a.test", "IP Address:127.0.0.1"], in certificate order. */
export async function opensslSans(certPath: string): Promise<string[]> {
  const out = await openssl(["x509", "-in", certPath, "-noout", "-ext", "subjectAltName"]);
  const body = out.split("\n").slice(1).join(" ").trim();
  return body ? body.split(/,\s*/).map((s) => s.trim()) : [];
}

/** DNS names from the subjectAltName, sorted. */
export async function opensslDnsNames(certPath: string): Promise<string[]> {
  return (await opensslSans(certPath))
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4))
    .sort();
}

/** The serial number in upper-case hex as openssl prints it. */
export async function opensslSerial(certPath: string): Promise<string> {
  return (await openssl(["x509", "-in", certPath, "-noout", "-serial"])).trim().replace(/^serial=/, "");
}

/** A field of a certificate's subject or issuer, e.g. opensslName(p, "issuer", "CN"). */
export async function opensslName(
  certPath: string,
  which: "subject" | "issuer",
  field = "CN",
): Promise<string | null> {
  const out = await openssl(["x509", "-in", certPath, "-noout", `-${which}`, "-nameopt", "multiline"]);
  const line = out.split("\n").find((l) => l.trim().startsWith(`${fieldLongName(field)} `));
  return line ? line.split("=").slice(1).join("=").trim() : null;
}

function fieldLongName(field: string): string {
  const names: Record<string, string> = { CN: "commonName", O: "organizationName", C: "countryName" };
  return names[field] ?? field;
}

/** "id-ecPublicKey", "rsaEncryption", "ED25519", ... from `openssl x509 -text`. */
export async function opensslPublicKeyAlgorithm(certPath: string): Promise<string> {
  const out = await openssl(["x509", "-in", certPath, "-noout", "-text"]);
  const m = out.match(/Public Key Algorithm:\s*(\S+)/);
  if (!m) throw new Error(`no public key algorithm in ${certPath}`);
  return m[1];
}

/** The certificate as `openssl x509 -text` prints it (for assertions on extensions). */
export function opensslText(certPath: string): Promise<string> {
  return openssl(["x509", "-in", certPath, "-noout", "-text"]);
}

export type Transport = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; headers: Headers; text: string }>;

/** HTTP over node:https with an explicit trust anchor (global fetch cannot take a CA in Node 20). */
export function nodeTransport(ca?: string): Transport {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(
        u,
        { method: init.method, headers: init.headers, ca, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const headers = new Headers();
            for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
            resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString("utf8") });
          });
        },
      );
      req.on("error", reject);
      req.end(init.body);
    });
}

export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return async (url, init) => {
    const res = await fetchImpl(url, init);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
}

/** RFC 8288 links with the given rel from every Link header. */
export function parseLinks(headers: Headers, rel: string): string[] {
  const out: string[] = [];
  for (const m of (headers.get("link") ?? "").matchAll(/<([^>]*)>\s*((?:;\s*[^,;]+)*)/g)) {
    const rels = [...m[2].matchAll(/rel\s*=\s*"?([^";]+)"?/gi)].flatMap((r) => r[1].trim().split(/\s+/));
    if (rels.includes(rel)) out.push(m[1]);
  }
  return out;
}
