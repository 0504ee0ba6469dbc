// The test DNS server inside Anvil (buildApp): turned on through ANVIL_TESTDNS*, it listens with the
// ACME server, becomes the validation resolver when none is configured, and dns-01 for a wildcard
// and its base name passes with TXT records published through its API. Also the config checks.
import { createHash } from "node:crypto";
import dns from "node:dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { makeCsr, type TestAcme } from "../helpers/acme.js";
import { startInProc, type InProc } from "../helpers/inproc.js";
import { freePort } from "../helpers/tools.js";

describe("config", () => {
  it("is off by default, with challtestsrv's ports on loopback", () => {
    expect(loadConfig({ env: {} }).testdns).toEqual({
      enabled: false, listen: "127.0.0.1:8053", apiListen: "127.0.0.1:8055", defaultIPv4: "127.0.0.1", defaultIPv6: "",
    });
  });

  it("reads ANVIL_TESTDNS, ANVIL_TESTDNS_LISTEN, ANVIL_TESTDNS_API and ANVIL_TESTDNS_DEFAULT_IPV4", () => {
    const env = { ANVIL_TESTDNS: "true", ANVIL_TESTDNS_LISTEN: "[::1]:5353", ANVIL_TESTDNS_API: "localhost:9055", ANVIL_TESTDNS_DEFAULT_IPV4: "192.0.2.1" };
    expect(loadConfig({ env }).testdns).toEqual({ enabled: true, listen: "[::1]:5353", apiListen: "localhost:9055", defaultIPv4: "192.0.2.1", defaultIPv6: "" });
  });

  it.each([
    [{ ANVIL_TESTDNS: "maybe" }, /testdns\.enabled \(ANVIL_TESTDNS\)/],
    [{ ANVIL_TESTDNS_LISTEN: "dns.example:53" }, /testdns\.listen \(ANVIL_TESTDNS_LISTEN\): ip:port or localhost:port/],
    [{ ANVIL_TESTDNS_API: "127.0.0.1:0" }, /testdns\.apiListen \(ANVIL_TESTDNS_API\)/],
    [{ ANVIL_TESTDNS_DEFAULT_IPV4: "::1" }, /testdns\.defaultIPv4 \(ANVIL_TESTDNS_DEFAULT_IPV4\)/],
  ])("refuses %j, naming the key and the variable", (env, message) => {
    expect(() => loadConfig({ env })).toThrow(message);
  });
});

describe("Anvil with the test DNS server", () => {
  let it_: InProc;
  let acct: TestAcme;
  let dnsPort: number;
  let apiUrl: string;

  beforeAll(async () => {
    dnsPort = await freePort();
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    // ANVIL_DNS_RESOLVER "" (ignored): no resolver configured, so validation must ask the test DNS server
    it_ = await startInProc({
      ANVIL_TESTDNS: "true",
      ANVIL_TESTDNS_LISTEN: `127.0.0.1:${dnsPort}`,
      ANVIL_TESTDNS_API: `127.0.0.1:${apiPort}`,
      ANVIL_DNS_RESOLVER: "",
    });
    acct = await it_.account();
  });
  afterAll(async () => {
    await it_?.close();
  });

  const setTxt = async (host: string, value: string) => {
    const res = await fetch(`${apiUrl}/set-txt`, { method: "POST", body: JSON.stringify({ host, value }) });
    expect(res.status).toBe(200);
  };
  const digest = (keyAuth: string) => createHash("sha256").update(keyAuth).digest("base64url");

  it("serves DNS and the API on the configured ports", async () => {
    const r = new dns.promises.Resolver();
    r.setServers([`127.0.0.1:${dnsPort}`]);
    expect(await r.resolve4("anything.anvil.test")).toEqual(["127.0.0.1"]);
    expect((await fetch(`${apiUrl}/health`)).status).toBe(200);
  });

  it("validates dns-01 for a wildcard and its base name through TXT records set with /set-txt", async () => {
    const names = ["*.dns.anvil.test", "dns.anvil.test"];
    const order = await acct.newOrder(names);
    expect(order.status).toBe(201);
    const challenges: Array<{ url: string; authz: string }> = [];
    for (const authzUrl of order.body.authorizations as string[]) {
      const authz = await acct.authz(authzUrl);
      const chall = (authz.body.challenges as Array<{ type: string; url: string; token: string }>).find((c) => c.type === "dns-01")!;
      await setTxt(`_acme-challenge.${authz.body.identifier.value}`, digest(acct.keyAuthorization(chall.token)));
      challenges.push({ url: chall.url, authz: authzUrl });
    }
    for (const c of challenges) expect((await acct.respond(c.url)).status).toBe(200);
    for (const c of challenges) {
      const done = await acct.poll(c.authz, ["valid", "invalid"]);
      expect(done.body.status, done.text).toBe("valid");
      expect(done.body.challenges.find((x: any) => x.type === "dns-01").validationRecord[0].resolverAddrs).toEqual([`127.0.0.1:${dnsPort}`]);
    }
    await acct.poll(order.location!, ["ready"]);
    const fin = await acct.finalize(order.body, (await makeCsr(names)).der);
    expect(fin.status).toBe(200);
    expect((await acct.poll(order.location!, ["valid", "invalid"])).body.status).toBe("valid");
  });

  it("without the TXT record the challenge is invalid, the problem naming the test DNS server's view", async () => {
    const order = await acct.newOrder(["missing.anvil.test"]);
    const authzUrl = order.body.authorizations[0] as string;
    const authz = await acct.authz(authzUrl);
    const chall = authz.body.challenges.find((c: any) => c.type === "dns-01");
    await setTxt("_acme-challenge.missing.anvil.test", "not-the-digest");
    await acct.respond(chall.url);
    const done = await acct.poll(authzUrl, ["valid", "invalid"]);
    expect(done.body.status).toBe("invalid");
    const error = done.body.challenges.find((c: any) => c.type === "dns-01").error;
    expect(error.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect(error.detail).toContain('found "not-the-digest"');
  });
});
