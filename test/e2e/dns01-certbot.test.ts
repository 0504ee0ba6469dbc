// certbot (Debian's 2.1) dns-01 against a real Anvil process running its built-in test DNS server:
// --manual with auth and cleanup hooks that curl the challtestsrv-style API, for a wildcard and its
// base name, checked with openssl; the hooks are the ones the README shows.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAnvil, type AnvilProcess } from "../helpers/anvil-process.js";
import { freePort, makeTempDir, opensslDnsNames, opensslVerify, removeTempDir, requireTools, runOk } from "../helpers/tools.js";

const skip = requireTools("certbot dns-01 e2e", [
  { bin: "certbot", apt: "certbot" },
  { bin: "openssl", apt: "openssl" },
  { bin: "curl", apt: "curl" },
]);
const T = 120_000;

// certbot runs hooks with CERTBOT_DOMAIN (the base name, also for a wildcard) and CERTBOT_VALIDATION.
const AUTH_HOOK = `#!/bin/sh
set -e
curl -fsS --noproxy '*' -X POST "$TESTDNS_API/set-txt" \\
  -d "{\\"host\\": \\"_acme-challenge.$CERTBOT_DOMAIN.\\", \\"value\\": \\"$CERTBOT_VALIDATION\\"}"
`;
const CLEANUP_HOOK = `#!/bin/sh
set -e
curl -fsS --noproxy '*' -X POST "$TESTDNS_API/clear-txt" -d "{\\"host\\": \\"_acme-challenge.$CERTBOT_DOMAIN.\\"}"
`;

describe.skipIf(skip)("certbot dns-01 with Anvil's test DNS server", () => {
  let anvil: AnvilProcess;
  let work: string;
  let apiUrl: string;

  beforeAll(async () => {
    const [dnsPort, apiPort] = [await freePort(), await freePort()];
    apiUrl = `http://127.0.0.1:${apiPort}`;
    // No ANVIL_DNS_RESOLVER: with the test DNS on, Anvil validates against it.
    anvil = await startAnvil({ env: { ANVIL_TESTDNS: "true", ANVIL_TESTDNS_LISTEN: `127.0.0.1:${dnsPort}`, ANVIL_TESTDNS_API: `127.0.0.1:${apiPort}` } });
    work = await makeTempDir("certbot-dns01");
    await writeFile(join(work, "auth.sh"), AUTH_HOOK, { mode: 0o755 });
    await writeFile(join(work, "cleanup.sh"), CLEANUP_HOOK, { mode: 0o755 });
  }, T);
  afterAll(async () => {
    await anvil?.stop();
    await removeTempDir(work);
  });

  const live = (name: string, file: string) => join(work, "cfg", "live", name, file);

  it("--manual with curl hooks: a wildcard and its base name, TXT records cleared afterwards", async () => {
    const names = ["*.c.anvil.test", "c.anvil.test"];
    await runOk(
      "certbot",
      [
        "certonly", "--manual", "--preferred-challenges", "dns",
        "--manual-auth-hook", join(work, "auth.sh"), "--manual-cleanup-hook", join(work, "cleanup.sh"),
        "--cert-name", "wild", ...names.flatMap((d) => ["-d", d]),
        "--server", anvil.directoryUrl, "--non-interactive", "--agree-tos", "--no-eff-email", "--register-unsafely-without-email",
        "--config-dir", join(work, "cfg"), "--work-dir", join(work, "wrk"), "--logs-dir", join(work, "logs"),
      ],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: anvil.rootPath, TESTDNS_API: apiUrl }, timeoutMs: T },
    );
    const v = await opensslVerify(anvil.rootPath, live("wild", "chain.pem"), live("wild", "cert.pem"));
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(live("wild", "cert.pem"))).toEqual([...names].sort());
    const records = (await (await fetch(`${apiUrl}/records`)).json()) as { names: Record<string, unknown> };
    expect(records.names["_acme-challenge.c.anvil.test"]).toBeUndefined();
  }, T);
});
