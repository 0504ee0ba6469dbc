// Encodings the validators compare against: the dns-01 TXT value, the tls-alpn-01 acmeIdentifier
// extension value, the DNS queries the VA sends (the replies: dnsreply.test.ts).
import { createHash } from "node:crypto";
import dns2 from "dns2";
import { describe, expect, it } from "vitest";
import { acmeIdentifierValue, keyAuthorizationDigest } from "../../src/va/index.js";
import { buildQuery, parseServer } from "../../src/va/dnsquery.js";

// RFC 8555 §8.3's example key authorization (token "LoqXc…", thumbprint "9jg46…"); its dns-01 value is
// the one Boulder's va tests serve for good-dns01.com (mocks.go: base64(sha256(token + "." + thumbprint))).
const RFC_KEY_AUTH = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
const BOULDER_TXT = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo";

describe("keyAuthorizationDigest (RFC 8555 §8.4)", () => {
  it("matches Boulder's value for the RFC 8555 §8.3 key authorization", () => {
    expect(keyAuthorizationDigest(RFC_KEY_AUTH)).toBe(BOULDER_TXT);
  });

  it("is unpadded base64url of 32 bytes", () => {
    const value = keyAuthorizationDigest("token.thumbprint");
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(value, "base64url")).toEqual(createHash("sha256").update("token.thumbprint").digest());
  });
});

describe("acmeIdentifierValue (RFC 8737 §3)", () => {
  it("is a DER OCTET STRING (tag 04, length 32) holding SHA-256 of the key authorization", () => {
    const value = acmeIdentifierValue(RFC_KEY_AUTH);
    expect(value.length).toBe(34);
    expect(value[0]).toBe(0x04);
    expect(value[1]).toBe(0x20);
    // the same digest the dns-01 value encodes, so both vectors agree
    expect(value.subarray(2).toString("base64url")).toBe(BOULDER_TXT);
  });
});

describe("DNS queries (RFC 1035 §4.1)", () => {
  const { Packet } = dns2;
  it.each([
    ["x1.bench.test", "A"],
    ["x1.bench.test.", "AAAA"],
    ["_acme-challenge.www.example.test", "TXT"],
    ["example.test", "CAA"],
    ["xn--bcher-kva.example", "CNAME"],
    [`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`, "A"],
  ] as const)("%s %s: the bytes dns2 writes for the same recursive query, and dns2 reads it back", (name, type) => {
    const { id, wire } = buildQuery(name, type, 0xbeef);
    expect(id).toBe(0xbeef);
    const reference = new Packet();
    reference.header.id = 0xbeef;
    reference.header.rd = 1;
    reference.questions.push({ name: name.replace(/\.$/, ""), type: Packet.TYPE[type], class: Packet.CLASS.IN });
    expect(wire.toString("hex")).toBe(reference.toBuffer().toString("hex"));
    const parsed = Packet.parse(wire);
    expect(parsed.header).toMatchObject({ id: 0xbeef, qr: 0, rd: 1, opcode: 0 });
    expect(parsed.questions).toEqual([{ name: name.replace(/\.$/, ""), type: Packet.TYPE[type], class: Packet.CLASS.IN }]);
  });

  it("refuses names a query cannot carry: an empty or 64-octet label, over 255 octets, non-ASCII", () => {
    for (const name of ["", "a..test", `${"a".repeat(64)}.test`, `${"abcdefghi.".repeat(26)}test`, "bücher.test"]) {
      expect(() => buildQuery(name, "A"), name).toThrow();
    }
  });

  it("says why such a name cannot be asked (the resolver turns it into the DNS problem's reason)", () => {
    expect(() => buildQuery(`${"a".repeat(64)}.test`, "TXT")).toThrow(expect.objectContaining({ reason: "name too long or not ASCII" }));
  });

  it("takes a random id per query", () => {
    const ids = new Set(Array.from({ length: 64 }, () => buildQuery("a.test", "A").id));
    expect(ids.size).toBeGreaterThan(60);
  });
});

describe("DNS server addresses", () => {
  it.each([
    ["127.0.0.1:5353", { host: "127.0.0.1", port: 5353, label: "127.0.0.1:5353" }],
    ["10.0.0.1", { host: "10.0.0.1", port: 53, label: "10.0.0.1:53" }],
    ["[::1]:5353", { host: "::1", port: 5353, label: "[::1]:5353" }],
    ["::1", { host: "::1", port: 53, label: "[::1]:53" }],
  ])("parses %s", (text, expected) => {
    expect(parseServer(text)).toEqual(expected);
  });

  it.each(["dns.example:53", "127.0.0.1:0", "127.0.0.1:99999", ""])("rejects %j", (text) => {
    expect(() => parseServer(text)).toThrow(/not a DNS server address/);
  });
});
