// dns-01 against the dns2 test server.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResolver, createVA, keyAuthorizationDigest } from "../../src/va/index.js";
import { startTestDns, type TestDns } from "../helpers/dnsserver.js";

let dns: TestDns;
beforeAll(async () => {
  dns = await startTestDns();
});
afterAll(async () => {
  await dns.close();
});

function challenge() {
  const token = randomBytes(32).toString("base64url");
  return { token, keyAuthorization: `${token}.${randomBytes(32).toString("base64url")}` };
}

const va = () =>
  createVA({ resolver: createResolver({ server: dns.address, timeoutMs: 2000 }), config: { httpPort: 80, tlsAlpnPort: 443, timeoutMs: 5000 } });
const validate = (name: string, c: ReturnType<typeof challenge>) =>
  va().validate({ type: "dns-01", identifier: { type: "dns", value: name }, ...c });

describe("dns-01", () => {
  it("is valid when one of the TXT values is the digest, and records the resolver", async () => {
    const c = challenge();
    dns.setTxt("_acme-challenge.good.test", ["unrelated", keyAuthorizationDigest(c.keyAuthorization)]);
    const result = await validate("good.test", c);
    expect(result.problem).toBeUndefined();
    expect(result.records).toEqual([{ hostname: "good.test", resolverAddrs: [dns.address] }]);
  });

  it("follows a CNAME from _acme-challenge (delegated validation)", async () => {
    const c = challenge();
    dns.setCname("_acme-challenge.delegated.test", "token.acme-dns.test");
    dns.setTxt("token.acme-dns.test", [keyAuthorizationDigest(c.keyAuthorization)]);
    expect((await validate("delegated.test", c)).problem).toBeUndefined();
  });

  it("retries over TCP when the answer is truncated", async () => {
    const c = challenge();
    const values = Array.from({ length: 30 }, (_, i) => `filler-${i}-${"z".repeat(40)}`);
    dns.setTxt("_acme-challenge.large.test", [...values, keyAuthorizationDigest(c.keyAuthorization)]);
    dns.setTruncated("_acme-challenge.large.test");
    const before = dns.queries.length;
    expect((await validate("large.test", c)).problem).toBeUndefined();
    expect(dns.queries.slice(before).map((q) => q.transport)).toEqual(["udp", "tcp"]);
  });

  it("a mismatch is unauthorized and says how many records were found", async () => {
    const c = challenge();
    dns.setTxt("_acme-challenge.wrong.test", ["a", "b", "c", "d", "e"]);
    const { problem } = await validate("wrong.test", c);
    expect(problem?.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect(problem?.detail).toBe(
      `Found 5 TXT records at _acme-challenge.wrong.test but none matches: expected "${keyAuthorizationDigest(c.keyAuthorization)}", ` +
        `found "a", "b", "c" and 2 more`,
    );
  });

  it("a name with no TXT record is unauthorized", async () => {
    const c = challenge();
    dns.setA("_acme-challenge.empty.test", ["127.0.0.1"]);
    const { problem } = await validate("empty.test", c);
    expect(problem?.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect(problem?.detail).toMatch(/^No TXT record found at _acme-challenge\.empty\.test/);
  });

  it("NXDOMAIN and SERVFAIL are dns problems naming the name, type and resolver", async () => {
    dns.setFail("_acme-challenge.sf.test", "SERVFAIL");
    const nx = await validate("absent.test", challenge());
    expect(nx.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(nx.problem?.detail).toBe(
      `DNS problem: NXDOMAIN looking up TXT for _acme-challenge.absent.test - check that a DNS record exists for this domain; resolver ${dns.address}`,
    );
    const sf = await validate("sf.test", challenge());
    expect(sf.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(sf.problem?.detail).toBe(
      `DNS problem: SERVFAIL looking up TXT for _acme-challenge.sf.test - the domain's nameservers may be malfunctioning; resolver ${dns.address}`,
    );
    expect(sf.records).toEqual([{ hostname: "sf.test", resolverAddrs: [dns.address] }]);
  });

  it("refuses IP identifiers (RFC 8738 §7)", async () => {
    const result = await va().validate({ type: "dns-01", identifier: { type: "ip", value: "127.0.0.1" }, ...challenge() });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:malformed");
  });
});
