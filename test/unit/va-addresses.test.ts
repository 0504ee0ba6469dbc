// The address policy (what the VA never dials) and the address arithmetic behind it.
import { describe, expect, it } from "vitest";
import { createAddressPolicy, ipToBytes, parseCidr, reverseDnsName, sameIp, unmapIPv4 } from "../../src/va/addresses.js";

describe("address policy", () => {
  const open = createAddressPolicy();
  const strict = createAddressPolicy({ denyPrivate: true, denyCidrs: ["203.0.113.0/24", "2001:db8:bad::/48", "198.51.100.7"] });

  it.each([
    // address, denied by default (reason fragment or null), denied with denyPrivate + denyCidrs
    ["169.254.169.254", /link-local/, /link-local/],
    ["0.0.0.0", /unspecified/, /unspecified/],
    ["0.1.2.3", /unspecified/, /unspecified/],
    ["224.0.0.1", /multicast/, /multicast/],
    ["239.255.255.250", /multicast/, /multicast/],
    ["255.255.255.255", /broadcast/, /broadcast/],
    ["::", /unspecified/, /unspecified/],
    ["fe80::1", /link-local/, /link-local/],
    ["febf::1", /link-local/, /link-local/],
    ["ff02::1", /multicast/, /multicast/],
    ["::ffff:169.254.169.254", /link-local/, /link-local/],
    ["127.0.0.1", null, /loopback/],
    ["::1", null, /loopback/],
    ["10.1.2.3", null, /private/],
    ["172.16.0.1", null, /private/],
    ["172.31.255.255", null, /private/],
    ["192.168.1.1", null, /private/],
    ["100.64.0.1", null, /carrier-grade/],
    ["fd00::1", null, /unique local/],
    ["::ffff:10.0.0.1", null, /private/],
    ["203.0.113.9", null, /203\.0\.113\.0\/24/],
    ["198.51.100.7", null, /198\.51\.100\.7/],
    ["198.51.100.8", null, null],
    ["2001:db8:bad:1::5", null, /2001:db8:bad::\/48/],
    ["2001:db8:900d::1", null, null],
    ["172.32.0.1", null, null],
    ["8.8.8.8", null, null],
    ["fec0::1", null, null],
  ])("%s", (ip, byDefault, withStrict) => {
    const a = open.check(ip);
    const b = strict.check(ip);
    if (byDefault) expect(a).toMatch(byDefault);
    else expect(a).toBeUndefined();
    if (withStrict) expect(b).toMatch(withStrict);
    else expect(b).toBeUndefined();
  });

  it("refuses text that is not an address", () => {
    expect(open.check("example.com")).toMatch(/not an IP address/);
  });

  it("rejects an invalid denyCidrs entry when it is built", () => {
    expect(() => createAddressPolicy({ denyCidrs: ["10.0.0.0/33"] })).toThrow(/prefix/);
    expect(() => createAddressPolicy({ denyCidrs: ["example.com/8"] })).toThrow(/not an IP address/);
    expect(() => parseCidr("10.0.0.0/8/1")).toThrow();
    expect(parseCidr("2001:db8::/32")).toEqual({ address: "2001:db8::", prefix: 32, family: "ipv6" });
  });
});

describe("reverse-DNS names (RFC 8738 §6)", () => {
  it("IPv4: RFC 1035 §3.5's example", () => {
    expect(reverseDnsName("10.2.0.52")).toBe("52.0.2.10.in-addr.arpa");
  });

  it("IPv6: RFC 3596 §2.5's example", () => {
    expect(reverseDnsName("4321:0:1:2:3:4:567:89ab")).toBe(
      "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
    );
  });

  it("IPv6 loopback, compressed", () => {
    expect(reverseDnsName("::1")).toBe(`1.${"0.".repeat(31)}ip6.arpa`);
  });
});

describe("address arithmetic", () => {
  it.each([
    ["::", "00".repeat(16)],
    ["::1", `${"00".repeat(15)}01`],
    ["2001:db8::", `20010db8${"00".repeat(12)}`],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["::ffff:192.0.2.1", `${"00".repeat(10)}ffffc0000201`],
    ["192.0.2.1", "c0000201"],
  ])("%s has the bytes %s", (ip, hex) => {
    expect(Buffer.from(ipToBytes(ip)).toString("hex")).toBe(hex);
  });

  it("unmaps IPv4-mapped IPv6 addresses only", () => {
    expect(unmapIPv4("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(unmapIPv4("::ffff:7f00:1")).toBe("127.0.0.1");
    expect(unmapIPv4("::1")).toBe("::1");
    expect(unmapIPv4("10.0.0.1")).toBe("10.0.0.1");
  });

  it("compares addresses whatever their spelling", () => {
    expect(sameIp("2001:DB8:0:0::1", "2001:db8::1")).toBe(true);
    expect(sameIp("::1", "::2")).toBe(false);
    expect(sameIp("127.0.0.1", "::ffff:127.0.0.1")).toBe(false);
    expect(sameIp("a.test", "a.test")).toBe(false);
  });
});
