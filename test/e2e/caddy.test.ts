// Caddy (Debian's 2.6.2) as an ACME client of a real Anvil process: Caddy runs as an ordinary
// process with its storage in a temp dir, on unprivileged ports, with Anvil as its only CA. One
// site is solved by http-01 only, another by tls-alpn-01 only; each served chain and each stored
// certificate is checked against Anvil's root with node:tls and with openssl.
import { spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslVerify, removeTempDir, requireTools, splitPem,
} from "../helpers/tools.js";

const skip = requireTools("caddy e2e", [
  { bin: "caddy", apt: "caddy" },
  { bin: "openssl", apt: "openssl" },
]);
const T = 60_000;

const HTTP01_SITE = ["caddy1.anvil.test", "caddy2.anvil.test"];
const TLSALPN01_SITE = ["caddy3.anvil.test"];

interface CaddyProcess {
  child: ChildProcess;
  /** Caddy's JSON log lines (stderr), parsed */
  entries(): Array<Record<string, unknown>>;
  logs(): string;
  stop(): Promise<void>;
}

describe.skipIf(skip)("caddy e2e", () => {
  let stack: E2eStack;
  let work: string;
  let httpPort: number;
  let httpsPort: number;
  let caddy: CaddyProcess;

  beforeAll(async () => {
    [httpPort, httpsPort] = [await freePort(), await freePort()];
    stack = await startStack({ http01Port: httpPort, env: { ANVIL_TLSALPN01_PORT: String(httpsPort) } });
    work = await makeTempDir("caddy");
    const caddyfile = join(work, "Caddyfile");
    await writeFile(caddyfile, caddyfileText(stack.anvil.directoryUrl, stack.anvil.rootPath, work));
    caddy = startCaddy(caddyfile, work);
  }, T);
  afterAll(async () => {
    await caddy?.stop();
    await stack?.stop();
    await removeTempDir(work);
  });

  /** Global options as a user would write them; each site restricts Caddy to one challenge type. */
  function caddyfileText(directoryUrl: string, rootPath: string, storage: string): string {
    return `{
	admin off
	http_port ${httpPort}
	https_port ${httpsPort}
	default_bind 127.0.0.1
	acme_ca ${directoryUrl}
	acme_ca_root ${rootPath}
	email test@anvil.test
	skip_install_trust
	storage file_system {
		root ${join(storage, "storage")}
	}
}

${HTTP01_SITE.join(", ")} {
	tls {
		issuer acme {
			disable_tlsalpn_challenge
		}
	}
	respond "hello from {host}"
}

${TLSALPN01_SITE.join(", ")} {
	tls {
		issuer acme {
			disable_http_challenge
		}
	}
	respond "hello from {host}"
}
`;
  }

  function startCaddy(caddyfile: string, home: string): CaddyProcess {
    const child = spawn("caddy", ["run", "--config", caddyfile, "--adapter", "caddyfile"], {
      cwd: home,
      // Caddy keeps its autosave and any default storage under these; none of it may touch the host's
      env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: join(home, "config") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    return {
      child,
      logs: () => out,
      entries: () =>
        out.split("\n").flatMap((l) => {
          try {
            return l.startsWith("{") ? [JSON.parse(l) as Record<string, unknown>] : [];
          } catch {
            return [];
          }
        }),
      stop: async () => {
        process.off("exit", killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  /** Caddy's served chain for `name`, once it has a certificate for it; the handshake trusts only Anvil's root. */
  async function servedChain(name: string, deadlineMs: number): Promise<tls.DetailedPeerCertificate> {
    for (;;) {
      if (caddy.child.exitCode !== null) throw new Error(`caddy exited:\n${caddy.logs()}`);
      try {
        return await handshake(name);
      } catch (err) {
        if (Date.now() > deadlineMs) throw new Error(`no certificate for ${name}: ${String(err)}\n${caddy.logs()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  function handshake(name: string): Promise<tls.DetailedPeerCertificate> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: httpsPort, servername: name, ca: stack.anvil.rootPem });
      socket.once("secureConnect", () => {
        const cert = socket.getPeerCertificate(true);
        socket.end();
        resolve(cert);
      });
      socket.once("error", reject);
      socket.setTimeout(5_000, () => socket.destroy(new Error("TLS handshake timed out")));
    });
  }

  /** Caddy stores <name>.crt (leaf + chain) under certificates/<issuer key>/<name>/. */
  async function storedCert(name: string): Promise<string> {
    const base = join(work, "storage", "certificates");
    for (const issuer of await readdir(base)) {
      const path = join(base, issuer, name, `${name}.crt`);
      try {
        await readFile(path);
        return path;
      } catch {
        // not under this issuer
      }
    }
    throw new Error(`no stored certificate for ${name} under ${base}`);
  }

  /** The chain Caddy serves and the one it stored both lead to Anvil's root, for exactly `name`,
   *  and Caddy's log shows Anvil fetched the answer to the one challenge type it was allowed. */
  async function expectCertificate(name: string, challengeType: "http-01" | "tls-alpn-01") {
    const served = await servedChain(name, Date.now() + 40_000);
    expect(served.subjectaltname).toBe(`DNS:${name}`);
    // node built the chain from what Caddy sent up to the trusted root: leaf, intermediate, Anvil's root
    const chain = [served];
    while (chain.at(-1)!.issuerCertificate && chain.at(-1)!.issuerCertificate !== chain.at(-1)) {
      chain.push(chain.at(-1)!.issuerCertificate);
    }
    expect(chain.length).toBeGreaterThanOrEqual(3);
    expect(chain.at(-1)!.fingerprint256).toBe(new X509Certificate(stack.anvil.rootPem).fingerprint256);

    const path = await storedCert(name);
    const stored = splitPem(await readFile(path, "utf8"));
    expect(stored.length).toBeGreaterThan(1);
    expect(new X509Certificate(stored[0]!).fingerprint256).toBe(served.fingerprint256);
    // Caddy's .crt holds leaf + intermediates: openssl verifies its first certificate with the rest as untrusted
    const v = await opensslVerify(stack.anvil.rootPath, path, path);
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(path)).toEqual([name]);

    const log = caddy.entries();
    const tried = log.filter((e) => e.msg === "trying to solve challenge" && e.identifier === name);
    expect(tried.map((e) => e.challenge_type)).toContain(challengeType);
    expect(new Set(tried.map((e) => e.challenge_type))).toEqual(new Set([challengeType]));
    const answered = log.filter(
      (e) => e.challenge === challengeType && (e.identifier === name || e.server_name === name),
    );
    expect(answered.length, caddy.logs()).toBeGreaterThan(0);
  }

  async function expectAccount() {
    const users = join(work, "storage", "acme");
    const [issuer] = await readdir(users);
    const account = JSON.parse(
      await readFile(join(users, issuer!, "users", "test@anvil.test", "test.json"), "utf8"),
    ) as { status: string; contact: string[]; location: string };
    expect(account.status).toBe("valid");
    expect(account.contact).toEqual(["mailto:test@anvil.test"]);
    expect(account.location.startsWith(`${stack.anvil.baseUrl}/`)).toBe(true);
  }

  it("http-01: a two-name site gets a certificate per name", async () => {
    for (const name of HTTP01_SITE) await expectCertificate(name, "http-01");
    await expectAccount();
  }, T);

  it("tls-alpn-01: a site with the http challenge disabled", async () => {
    for (const name of TLSALPN01_SITE) await expectCertificate(name, "tls-alpn-01");
  }, T);
});
