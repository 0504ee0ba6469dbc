// lego (Debian's 4.9) dns-01 against a real Anvil process running its built-in test DNS server:
// a wildcard + base name order through lego's httpreq provider, and through the acme-dns API with
// _acme-challenge delegated by a CNAME.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAnvil, type AnvilProcess } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslVerify, removeTempDir, requireTools, run, type RunResult,
} from "../helpers/tools.js";

const skip = requireTools("lego dns-01 e2e", [
  { bin: "lego", apt: "lego" },
  { bin: "openssl", apt: "openssl" },
  { bin: "curl", apt: "curl" },
]);

/** lego's exec provider calls it with present|cleanup, the FQDN and the value; acme-dns has no delete. */
const ACME_DNS_HOOK = `#!/bin/sh
set -e
[ "$1" = present ] || exit 0
curl -fsS --noproxy '*' -X POST -H "X-Api-User: $ACMEDNS_USER" -H "X-Api-Key: $ACMEDNS_KEY" \\
  -d "{\\"subdomain\\": \\"$ACMEDNS_SUBDOMAIN\\", \\"txt\\": \\"$3\\"}" "$ACMEDNS_API/update"
`;
const T = 120_000;

describe.skipIf(skip)("lego dns-01 with Anvil's test DNS server", () => {
  let anvil: AnvilProcess;
  let work: string;
  let dnsAddress: string;
  let apiUrl: string;

  beforeAll(async () => {
    const [dnsPort, apiPort] = [await freePort(), await freePort()];
    dnsAddress = `127.0.0.1:${dnsPort}`;
    apiUrl = `http://127.0.0.1:${apiPort}`;
    // No ANVIL_DNS_RESOLVER: with the test DNS on, Anvil validates against it.
    anvil = await startAnvil({ env: { ANVIL_TESTDNS: "true", ANVIL_TESTDNS_LISTEN: dnsAddress, ANVIL_TESTDNS_API: `127.0.0.1:${apiPort}` } });
    work = await makeTempDir("lego-dns01");
  }, T);
  afterAll(async () => {
    await anvil?.stop();
    await removeTempDir(work);
  });

  /** lego with its own DNS lookups sent to the test DNS server (--dns.resolvers), never elsewhere. */
  function lego(provider: string, env: Record<string, string>, names: string[]): Promise<RunResult> {
    return run(
      "lego",
      [
        "--server", anvil.directoryUrl, "--accept-tos", "--email", "lego-dns01@example.com", "--path", work,
        "--dns", provider, "--dns.resolvers", dnsAddress, "--dns.disable-cp",
        ...names.flatMap((d) => ["-d", d]), "run",
      ],
      { env: { ...process.env, LEGO_CA_CERTIFICATES: anvil.rootPath, ...env }, timeoutMs: T },
    );
  }

  const certFile = (name: string, ext: string) => join(work, "certificates", `${name.replace("*", "_")}.${ext}`);

  async function expectValidChain(first: string, names: string[]) {
    const v = await opensslVerify(anvil.rootPath, certFile(first, "issuer.crt"), certFile(first, "crt"));
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(certFile(first, "crt"))).toEqual([...names].sort());
  }

  async function records(): Promise<Record<string, { txt?: string[]; cname?: string }>> {
    return ((await (await fetch(`${apiUrl}/records`)).json()) as { names: Record<string, { txt?: string[] }> }).names;
  }

  it("--dns httpreq: a wildcard and its base name, TXT records removed afterwards", async () => {
    const names = ["*.w.anvil.test", "w.anvil.test"];
    const r = await lego("httpreq", { HTTPREQ_ENDPOINT: apiUrl }, names);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    await expectValidChain(names[0]!, names);
    // lego's /cleanup removed both values it presented
    expect((await records())["_acme-challenge.w.anvil.test"]).toBeUndefined();
  }, T);

  it("acme-dns API + CNAME: _acme-challenge delegated to a registered subdomain, updated by a lego exec hook", async () => {
    // Debian's lego is built without its acme-dns provider, so the hook speaks acme-dns's API with
    // curl, as a user's script would; the registration and the CNAME are the documented setup.
    const reg = (await (await fetch(`${apiUrl}/register`, { method: "POST" })).json()) as Record<string, string>;
    const cname = await fetch(`${apiUrl}/set-cname`, { method: "POST", body: JSON.stringify({ host: "_acme-challenge.adns.anvil.test", target: reg.fulldomain }) });
    expect(cname.status).toBe(200);
    const hook = join(work, "acme-dns-hook.sh");
    await writeFile(hook, ACME_DNS_HOOK, { mode: 0o755 });
    const names = ["*.adns.anvil.test", "adns.anvil.test"];
    const r = await lego("exec", {
      // exec solves one name at a time and by default waits 60 s in between
      EXEC_PATH: hook, EXEC_SEQUENCE_INTERVAL: "1", ACMEDNS_API: apiUrl, ACMEDNS_USER: reg.username!, ACMEDNS_KEY: reg.password!, ACMEDNS_SUBDOMAIN: reg.subdomain!,
    }, names);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    await expectValidChain(names[0]!, names);
    // acme-dns keeps the last two values: exactly the wildcard's and the base name's
    expect((await records())[reg.fulldomain!]?.txt).toHaveLength(2);
  }, T);
});
