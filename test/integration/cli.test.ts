// The command line as a user meets it: `anvil init`, `anvil migrate`, config validation messages, and a
// first start on an empty data folder (the PKI with private keys at mode 0600, reused by later starts).
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { MAIN_JS, startAnvil } from "../helpers/anvil-process.js";
import { makeTempDir, removeTempDir } from "../helpers/tools.js";

const exec = promisify(execFile);
const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length) await removeTempDir(dirs.pop());
});

async function anvil(args: string[], env: Record<string, string>) {
  try {
    const r = await exec(process.execPath, [MAIN_JS, ...args], { env: { PATH: process.env.PATH ?? "", ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: any) {
    return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string };
  }
}

async function tempDir() {
  const d = await makeTempDir("cli");
  dirs.push(d);
  return d;
}

describe("anvil init", () => {
  it("creates a P-384 root and a P-256 intermediate with 0600 keys, and keeps them on a second run", async () => {
    const data = await tempDir();
    const first = await anvil(["init"], { ANVIL_DATA_DIR: data });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Anvil root certificate: ${join(data, "ca", "root.pem")}`);
    const root = new X509Certificate(readFileSync(join(data, "ca", "root.pem")));
    const inter = new X509Certificate(readFileSync(join(data, "ca", "intermediate.pem")));
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(inter.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(inter.checkIssued(root)).toBe(true);
    const years = (new Date(root.validTo).getTime() - Date.now()) / (365.25 * 86400e3);
    expect(years).toBeGreaterThan(9.9);
    for (const k of ["root.key", "intermediate.key"]) expect(statSync(join(data, "ca", k)).mode & 0o777).toBe(0o600);
    const second = await anvil(["init"], { ANVIL_DATA_DIR: data });
    expect(second.stdout).toMatch(/existing CA/);
    expect(readFileSync(join(data, "ca", "root.pem"), "utf8")).toBe(root.toString());
  });

  it("takes key types and subjects", async () => {
    const data = await tempDir();
    const r = await anvil(["init", "--root-key", "rsa-2048", "--intermediate-key", "rsa-2048", "--root-subject", "CN=Test Root,O=Example", "--root-days", "30"], { ANVIL_DATA_DIR: data });
    expect(r.code).toBe(0);
    const root = new X509Certificate(readFileSync(join(data, "ca", "root.pem")));
    expect(root.publicKey.asymmetricKeyType).toBe("rsa");
    expect(root.subject).toContain("CN=Test Root");
    expect((new Date(root.validTo).getTime() - Date.now()) / 86400e3).toBeLessThan(31);
  });

  it("imports the example CA pair", async () => {
    const data = await tempDir();
    const ex = join(process.cwd(), "ca-keys.example");
    const r = await anvil(["init", "--import-root", join(ex, "root.pem"), "--import-intermediate", join(ex, "intermediate.pem"), "--import-key", join(ex, "intermediate.key")], { ANVIL_DATA_DIR: data });
    expect(r.code).toBe(0);
    expect(readFileSync(join(data, "ca", "root.pem"), "utf8")).toBe(readFileSync(join(ex, "root.pem"), "utf8"));
  });

  it("refuses a bad key spec with a message", async () => {
    const r = await anvil(["init", "--root-key", "dsa-1024"], { ANVIL_DATA_DIR: await tempDir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--root-key/);
  });
});

describe("configuration errors stop the process with the key's name", () => {
  it.each([
    [{ ANVIL_HTTP01_PORT: "70000" }, /validation\.http01Port \(ANVIL_HTTP01_PORT\)/],
    [{ ANVIL_LISTEN: "nonsense" }, /listen \(ANVIL_LISTEN\)/],
    [{ ANVIL_TLS: "maybe" }, /tls\.enabled \(ANVIL_TLS\)/],
    [{ ANVIL_LOG_LEVEL: "loud" }, /log\.level \(ANVIL_LOG_LEVEL\)/],
  ])("%j", async (env, message) => {
    const r = await anvil(["serve"], { ANVIL_DATA_DIR: await tempDir(), ...env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("an unknown key in the config file is refused", async () => {
    const data = await tempDir();
    writeFileSync(join(data, "c.yaml"), "validation:\n  htp01Port: 80\n");
    const r = await anvil(["serve", "--config", join(data, "c.yaml")], { ANVIL_DATA_DIR: data });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/htp01Port/);
  });
});

describe("anvil migrate and first start", () => {
  it("migrate applies once; a first start serves HTTPS with a certificate from its own intermediate", async () => {
    const data = await tempDir();
    const m1 = await anvil(["migrate"], { ANVIL_DATA_DIR: data });
    expect(m1.stdout).toMatch(/applied: \d+_init/);
    expect((await anvil(["migrate"], { ANVIL_DATA_DIR: data })).stdout).toMatch(/up to date/);
    const proc = await startAnvil({ dataDir: data });
    try {
      const res = await fetch(`${proc.baseUrl}/directory`).catch((e) => e);
      expect(res).toBeInstanceOf(Error); // not trusted without the root
      const serverCert = new X509Certificate(readFileSync(join(data, "tls", "server.pem")));
      const inter = new X509Certificate(readFileSync(join(data, "ca", "intermediate.pem")));
      expect(serverCert.checkIssued(inter)).toBe(true);
      expect(serverCert.subjectAltName).toContain("DNS:localhost");
      expect(proc.logs()).toContain(`Anvil root certificate: ${join(data, "ca", "root.pem")}`);
    } finally {
      await proc.stop();
    }
  });
});
