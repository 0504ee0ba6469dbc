// The test DNS server's records and answers, without sockets: defaults, explicit records, CNAME
// chains, SERVFAIL, name matching, input checks and the memory bounds.
import { describe, expect, it } from "vitest";
import { createZone, TestDnsInputError } from "../../src/testdns/index.js";

const txt = (values: string[], name: string) => values.map((value) => ({ name, type: "TXT", value }));

describe("A and AAAA", () => {
  it("answers the default IPv4 for any name, and no AAAA without a default", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1" });
    expect(zone.answer("anything.example", "A")).toEqual({ rcode: "NOERROR", answers: [{ name: "anything.example", type: "A", address: "127.0.0.1" }] });
    expect(zone.answer("anything.example", "AAAA")).toEqual({ rcode: "NOERROR", answers: [] });
  });

  it("explicit records replace the default until cleared; the default can be changed or switched off", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1", defaultIPv6: "::1" });
    zone.addA("h.test", ["10.0.0.1", "10.0.0.2"]);
    zone.addA("h.test", ["10.0.0.2", "10.0.0.3"]); // appended, without duplicates
    expect(zone.answer("h.test", "A").answers.map((a) => (a as { address: string }).address)).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    zone.addAAAA("h.test", ["2001:DB8:0:0:0:0:0:1"]);
    expect(zone.answer("h.test", "AAAA").answers).toEqual([{ name: "h.test", type: "AAAA", address: "2001:db8::1" }]);
    zone.clearA("h.test");
    zone.clearAAAA("h.test");
    expect(zone.answer("h.test", "A").answers).toEqual([{ name: "h.test", type: "A", address: "127.0.0.1" }]);
    expect(zone.answer("h.test", "AAAA").answers).toEqual([{ name: "h.test", type: "AAAA", address: "::1" }]);
    zone.setDefaultIPv4("192.0.2.7");
    zone.setDefaultIPv6("");
    expect(zone.answer("other.test", "A").answers).toEqual([{ name: "other.test", type: "A", address: "192.0.2.7" }]);
    expect(zone.answer("other.test", "AAAA").answers).toEqual([]);
    zone.setDefaultIPv4("");
    expect(zone.answer("other.test", "A").answers).toEqual([]);
    expect(zone.defaults).toEqual({ ipv4: "", ipv6: "" });
  });

  it("matches names case-insensitively, with or without the trailing dot", () => {
    const zone = createZone();
    zone.addA("MiXeD.Example.", ["10.1.2.3"]);
    expect(zone.answer("mixed.example", "A").answers).toHaveLength(1);
    expect(zone.answer("MIXED.EXAMPLE.", "A").answers).toHaveLength(1);
    expect(Object.keys(zone.dump())).toEqual(["mixed.example"]);
  });
});

describe("TXT", () => {
  it("answers every value set for the name, oldest first; a repeated value is not duplicated", () => {
    const zone = createZone();
    zone.addTxt("_acme-challenge.a.test", "one");
    zone.addTxt("_acme-challenge.A.test.", "two");
    zone.addTxt("_acme-challenge.a.test", "one");
    expect(zone.answer("_acme-challenge.a.test", "TXT")).toEqual({ rcode: "NOERROR", answers: txt(["two", "one"], "_acme-challenge.a.test") });
  });

  it("removes one value, or all of them", () => {
    const zone = createZone();
    zone.addTxt("t.test", "keep");
    zone.addTxt("t.test", "drop");
    expect(zone.removeTxt("t.test", "drop")).toBe(true);
    expect(zone.removeTxt("t.test", "never-set")).toBe(false);
    expect(zone.answer("t.test", "TXT").answers).toEqual(txt(["keep"], "t.test"));
    zone.clearTxt("t.test");
    expect(zone.answer("t.test", "TXT").answers).toEqual([]);
    expect(zone.size).toBe(0); // a name without records is forgotten
  });

  it("keep: n holds the newest n values (acme-dns's two)", () => {
    const zone = createZone();
    for (const v of ["v1", "v2", "v3"]) zone.addTxt("ring.test", v, { keep: 2 });
    expect(zone.answer("ring.test", "TXT").answers).toEqual(txt(["v2", "v3"], "ring.test"));
  });

  it("beyond the per-name limit, the oldest values go", () => {
    const zone = createZone({ limits: { maxValuesPerType: 3 } });
    for (const v of ["1", "2", "3", "4", "5"]) zone.addTxt("many.test", v);
    expect(zone.answer("many.test", "TXT").answers).toEqual(txt(["3", "4", "5"], "many.test"));
  });
});

describe("CNAME", () => {
  it("follows a chain and answers the target's records after the CNAMEs, the first owner as asked", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1" });
    zone.setCname("_acme-challenge.site.test", "sub.acme.test");
    zone.setCname("sub.acme.test", "final.acme.test");
    zone.addTxt("final.acme.test", "token");
    expect(zone.answer("_ACME-challenge.site.test", "TXT").answers).toEqual([
      { name: "_ACME-challenge.site.test", type: "CNAME", target: "sub.acme.test" },
      { name: "sub.acme.test", type: "CNAME", target: "final.acme.test" },
      { name: "final.acme.test", type: "TXT", value: "token" },
    ]);
    // the default address applies to the end of the chain as to any name
    expect(zone.answer("_acme-challenge.site.test", "A").answers.at(-1)).toEqual({ name: "final.acme.test", type: "A", address: "127.0.0.1" });
  });

  it("a CNAME question gets only the CNAME", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1" });
    zone.setCname("alias.test", "target.test");
    expect(zone.answer("alias.test", "CNAME").answers).toEqual([{ name: "alias.test", type: "CNAME", target: "target.test" }]);
    expect(zone.answer("target.test", "CNAME").answers).toEqual([]);
  });

  it("stops at a loop, and at a chain longer than 8", () => {
    const zone = createZone();
    zone.setCname("a.loop.test", "b.loop.test");
    zone.setCname("b.loop.test", "a.loop.test");
    expect(zone.answer("a.loop.test", "TXT").answers.map((a) => a.type)).toEqual(["CNAME", "CNAME"]);
    for (let i = 0; i < 12; i++) zone.setCname(`c${i}.chain.test`, `c${i + 1}.chain.test`);
    expect(zone.answer("c0.chain.test", "TXT").answers).toHaveLength(9);
  });

  it("refuses a CNAME to itself; clearing it restores the name's own records", () => {
    const zone = createZone();
    expect(() => zone.setCname("self.test", "SELF.test.")).toThrow(TestDnsInputError);
    zone.addTxt("x.test", "own");
    zone.setCname("x.test", "y.test");
    expect(zone.answer("x.test", "TXT").answers).toEqual([{ name: "x.test", type: "CNAME", target: "y.test" }]);
    zone.clearCname("x.test");
    expect(zone.answer("x.test", "TXT").answers).toEqual(txt(["own"], "x.test"));
  });
});

describe("CAA, SERVFAIL and other types", () => {
  it("answers CAA policies (tag in lower case, flag 0 by default)", () => {
    const zone = createZone();
    zone.addCaa("caa.test", [{ tag: "issue", value: "anvil.test" }, { tag: "IODEF", value: "mailto:x@y.test", flag: 128 }]);
    expect(zone.answer("caa.test", "CAA").answers).toEqual([
      { name: "caa.test", type: "CAA", flag: 0, tag: "issue", value: "anvil.test" },
      { name: "caa.test", type: "CAA", flag: 128, tag: "iodef", value: "mailto:x@y.test" },
    ]);
    zone.clearCaa("caa.test");
    expect(zone.answer("caa.test", "CAA").answers).toEqual([]);
  });

  it("SERVFAIL for the name, and for a name whose CNAME leads to it, until cleared", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1" });
    zone.setServfail("broken.test");
    zone.setCname("via.test", "broken.test");
    expect(zone.answer("broken.test", "A")).toEqual({ rcode: "SERVFAIL", answers: [] });
    expect(zone.answer("via.test", "TXT")).toEqual({ rcode: "SERVFAIL", answers: [] });
    zone.clearServfail("broken.test");
    expect(zone.answer("broken.test", "A").rcode).toBe("NOERROR");
  });

  it("types without data get an empty NOERROR", () => {
    const zone = createZone({ defaultIPv4: "127.0.0.1" });
    zone.addTxt("t.test", "v");
    for (const type of ["MX", "NS", "SOA", "ANY", "TYPE65"]) expect(zone.answer("t.test", type)).toEqual({ rcode: "NOERROR", answers: [] });
  });
});

describe("input checks", () => {
  const zone = createZone();
  it.each([
    ["an empty host", () => zone.addTxt("", "v"), /host: a non-empty string/],
    ["a label with a space", () => zone.addTxt("a b.test", "v"), /not a DNS name/],
    ["a label of 64 characters", () => zone.addTxt(`${"x".repeat(64)}.test`, "v"), /not a DNS name/],
    ["an empty TXT value", () => zone.addTxt("t.test", ""), /value: a non-empty string/],
    ["a TXT value over the byte limit", () => zone.addTxt("t.test", "é".repeat(513)), /longer than 1024 bytes/],
    ["an IPv6 address as A", () => zone.addA("t.test", ["::1"]), /addresses\[0\]: "::1" is not an IPv4 address/],
    ["an IPv4 address as AAAA", () => zone.addAAAA("t.test", ["10.0.0.1"]), /not an IPv6 address/],
    ["no addresses", () => zone.addA("t.test", []), /non-empty array/],
    ["a CAA tag with a dash", () => zone.addCaa("t.test", [{ tag: "is-sue", value: "x" }]), /policies\[0\]\.tag/],
    ["a CAA flag of 256", () => zone.addCaa("t.test", [{ tag: "issue", value: "x", flag: 256 }]), /policies\[0\]\.flag/],
    ["a default IPv4 that is not one", () => zone.setDefaultIPv4("localhost"), /ip: "localhost"/],
    ["a CNAME target that is not a name", () => zone.setCname("t.test", "bad target"), /target:/],
  ])("refuses %s", (_what, call, message) => {
    expect(call).toThrow(TestDnsInputError);
    expect(call).toThrow(message);
  });

  it("refuses more A records than the per-name limit and keeps what it had", () => {
    const small = createZone({ limits: { maxValuesPerType: 2 } });
    small.addA("a.test", ["10.0.0.1", "10.0.0.2"]);
    expect(() => small.addA("a.test", ["10.0.0.3"])).toThrow(/at most 2 A records per name/);
    expect(small.dump()["a.test"]).toEqual({ a: ["10.0.0.1", "10.0.0.2"] });
  });

  it("a refused change leaves the zone as it was", () => {
    const z = createZone();
    z.addTxt("keep.test", "v");
    expect(() => z.addCaa("keep.test", [{ tag: "issue", value: "ok" }, { tag: "", value: "bad" }])).toThrow(TestDnsInputError);
    expect(z.dump()).toEqual({ "keep.test": { txt: ["v"] } });
  });
});

describe("memory bounds", () => {
  it("beyond maxNames, drops the name written longest ago and reports it", () => {
    const evicted: string[] = [];
    const zone = createZone({ limits: { maxNames: 3 }, onEvict: (h) => evicted.push(h) });
    zone.addTxt("n1.test", "v");
    zone.addTxt("n2.test", "v");
    zone.addTxt("n3.test", "v");
    zone.addTxt("n1.test", "w"); // rewriting n1 makes it the newest
    zone.addTxt("n4.test", "v");
    expect(evicted).toEqual(["n2.test"]);
    expect(Object.keys(zone.dump()).sort()).toEqual(["n1.test", "n3.test", "n4.test"]);
    expect(zone.size).toBe(3);
  });

  it("beyond maxBytes, drops old names until the total fits, never the one just written", () => {
    const evicted: string[] = [];
    const zone = createZone({ limits: { maxBytes: 4000, maxValueBytes: 1000 }, onEvict: (h) => evicted.push(h) });
    for (let i = 0; i < 10; i++) zone.addTxt(`b${i}.test`, "x".repeat(1000));
    expect(zone.size).toBeLessThan(10);
    expect(zone.size).toBeGreaterThan(0);
    expect(evicted).toEqual(Array.from({ length: 10 - zone.size }, (_, i) => `b${i}.test`));
    expect(zone.answer("b9.test", "TXT").answers).toHaveLength(1);
  });
});
