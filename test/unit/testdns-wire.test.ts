// The test DNS server's message handling: reading queries defensively (hostile compression pointers,
// responses, other opcodes) and encoding answers byte for byte as RFC 1035 and RFC 8659 lay them out.
import dns2 from "dns2";
import { describe, expect, it } from "vitest";
import { expandIPv6 } from "../../src/testdns/names.js";
import { buildResponse, characterStrings, parseQuery, UDP_MAX, type Question } from "../../src/testdns/wire.js";
import type { Resolution } from "../../src/testdns/zone.js";

const { Packet } = dns2;

/** A query as a client writes it: header, then the name's labels, type and class. */
function query(name: string, type: number, opts: { id?: number; flags?: number; qdcount?: number; cls?: number } = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id ?? 0x1234, 0);
  header.writeUInt16BE(opts.flags ?? 0x0100, 2); // RD
  header.writeUInt16BE(opts.qdcount ?? 1, 4);
  const labels = name.split(".").filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")]));
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(opts.cls ?? 1, 2);
  return Buffer.concat([header, ...labels, Buffer.from([0]), tail]);
}

const none = (): Resolution => ({ rcode: "NOERROR", answers: [] });

function respond(msg: Buffer, resolve: (q: Question) => Resolution = none, maxSize?: number) {
  const q = parseQuery(msg);
  if (!q) throw new Error("query not parsed");
  const wire = buildResponse(q, resolve, maxSize);
  return { wire, packet: Packet.parse(wire) };
}

/** Offset of the first answer's RDATA: header, question, then the answer's name, type, class, ttl, rdlength. */
function firstRdata(wire: Buffer): { type: number; rdata: Buffer } {
  let off = 12;
  while (wire[off] !== 0) off += wire[off]! + 1;
  off += 5; // root label, qtype, qclass
  while (wire[off] !== 0) off += wire[off]! + 1;
  off += 1;
  const type = wire.readUInt16BE(off);
  const len = wire.readUInt16BE(off + 8);
  return { type, rdata: wire.subarray(off + 10, off + 10 + len) };
}

describe("parseQuery", () => {
  it("reads id, opcode, RD and the one question, keeping the name's case", () => {
    expect(parseQuery(query("_ACME-Challenge.Example.test", 16, { id: 7 }))).toEqual({
      id: 7, opcode: 0, rd: 1, question: { name: "_ACME-Challenge.Example.test", type: 16, class: 1 },
    });
  });

  it("ignores messages shorter than a header and responses (QR=1)", () => {
    expect(parseQuery(Buffer.alloc(11))).toBeUndefined();
    expect(parseQuery(query("a.test", 1, { flags: 0x8100 }))).toBeUndefined();
  });

  it("NOTIMP for another opcode (STATUS), FORMERR for two questions", () => {
    expect(parseQuery(query("a.test", 1, { flags: 2 << 11 }))?.rcode).toBe("NOTIMP");
    expect(parseQuery(query("a.test", 1, { qdcount: 2 }))?.rcode).toBe("FORMERR");
  });

  it("FORMERR, not a hang, for a compression pointer to itself (dns2's decoder would loop forever)", () => {
    const msg = Buffer.concat([query("", 1).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseQuery(msg)?.rcode).toBe("FORMERR");
  });

  it("FORMERR for a name running past the message, a missing type, or a dot inside a label", () => {
    const full = query("abc.test", 1);
    expect(parseQuery(full.subarray(0, 15))?.rcode).toBe("FORMERR");
    expect(parseQuery(full.subarray(0, full.length - 2))?.rcode).toBe("FORMERR");
    const dotted = Buffer.concat([full.subarray(0, 12), Buffer.from([3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1])]); // label "a.b"
    expect(parseQuery(dotted)?.rcode).toBe("FORMERR");
  });
});

describe("buildResponse", () => {
  it("echoes id, RD and the question; sets QR, AA and RA", () => {
    const { packet } = respond(query("Echo.test", 1, { id: 0xbeef }));
    expect(packet.header).toMatchObject({ id: 0xbeef, qr: 1, aa: 1, rd: 1, ra: 1, tc: 0, rcode: 0 });
    expect(packet.questions).toEqual([{ name: "Echo.test", type: 1, class: 1 }]);
    expect(packet.answers).toEqual([]);
  });

  it("encodes A, CNAME and TXT records that dns2 decodes back", () => {
    const { packet } = respond(query("x.test", 1), () => ({
      rcode: "NOERROR",
      answers: [
        { name: "x.test", type: "CNAME", target: "y.test" },
        { name: "y.test", type: "A", address: "192.0.2.1" },
        { name: "y.test", type: "TXT", value: "v".repeat(300) },
      ],
    }));
    expect(packet.answers.map((a) => [a.name, a.type, a.ttl, a.address ?? a.domain ?? a.data])).toEqual([
      ["x.test", 5, 0, "y.test"],
      ["y.test", 1, 0, "192.0.2.1"],
      ["y.test", 16, 0, "v".repeat(300)],
    ]);
  });

  it("AAAA RDATA is the 16 address bytes, also for compressed forms and an IPv4 tail", () => {
    for (const [address, hex] of [
      ["2001:db8::ffff:1.2.3.4", "20010db8000000000000ffff01020304"],
      ["::1", "00000000000000000000000000000001"],
      ["fe80::", "fe800000000000000000000000000000"],
    ]) {
      const { wire } = respond(query("v6.test", 28), () => ({ rcode: "NOERROR", answers: [{ name: "v6.test", type: "AAAA", address: address! }] }));
      expect(firstRdata(wire)).toEqual({ type: 28, rdata: Buffer.from(hex!, "hex") });
    }
  });

  it("a TXT value over 255 bytes goes out as several character-strings (RFC 1035 §3.3.14)", () => {
    const { wire } = respond(query("t.test", 16), () => ({ rcode: "NOERROR", answers: [{ name: "t.test", type: "TXT", value: "a".repeat(300) }] }));
    const { type, rdata } = firstRdata(wire);
    expect(type).toBe(16);
    expect(rdata.length).toBe(302);
    expect([rdata[0], rdata[256]]).toEqual([255, 45]);
  });

  it("CAA RDATA is flags, tag length, tag, value (RFC 8659 §4.1)", () => {
    const { wire } = respond(query("c.test", 257), () => ({
      rcode: "NOERROR",
      answers: [{ name: "c.test", type: "CAA", flag: 128, tag: "issue", value: "anvil.test" }],
    }));
    const { type, rdata } = firstRdata(wire);
    expect(type).toBe(257);
    expect(rdata).toEqual(Buffer.concat([Buffer.from([128, 5]), Buffer.from("issueanvil.test")]));
  });

  it("SERVFAIL and REFUSED (a class other than IN) carry the question and no answers", () => {
    const fail = respond(query("s.test", 1), () => ({ rcode: "SERVFAIL", answers: [] }));
    expect(fail.packet.header.rcode).toBe(2);
    const chaos = respond(query("version.bind", 16, { cls: 3 }), () => {
      throw new Error("not asked for a CH question");
    });
    expect(chaos.packet.header.rcode).toBe(5);
    expect(chaos.packet.questions).toHaveLength(1);
  });

  it("over UDP an answer above 512 bytes goes out empty with TC=1; without a limit it is whole", () => {
    const big = (): Resolution => ({ rcode: "NOERROR", answers: Array.from({ length: 10 }, (_, i) => ({ name: "big.test", type: "TXT" as const, value: `${i}`.repeat(60) })) });
    const udp = respond(query("big.test", 16), big, UDP_MAX);
    expect(udp.wire.length).toBeLessThanOrEqual(UDP_MAX);
    expect(udp.packet.header.tc).toBe(1);
    expect(udp.packet.answers).toEqual([]);
    const tcp = respond(query("big.test", 16), big);
    expect(tcp.wire.length).toBeGreaterThan(UDP_MAX);
    expect(tcp.packet.header.tc).toBe(0);
    expect(tcp.packet.answers).toHaveLength(10);
  });

  it("NOTIMP and FORMERR answers need no question", () => {
    const q = parseQuery(query("a.test", 1, { flags: 4 << 11 }))!;
    const p = Packet.parse(buildResponse(q, none));
    expect(p.header.rcode).toBe(4);
    expect(p.questions).toEqual([]);
  });
});

describe("helpers", () => {
  it.each([
    ["::", "0:0:0:0:0:0:0:0"],
    ["::1", "0:0:0:0:0:0:0:1"],
    ["2001:db8::", "2001:db8:0:0:0:0:0:0"],
    ["2001:DB8:0:0:1::2", "2001:db8:0:0:1:0:0:2"],
    ["::ffff:192.0.2.1", "0:0:0:0:0:ffff:c000:201"],
    ["fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80:0:0:0:204:61ff:fe9d:f156"],
  ])("expandIPv6(%s) = %s", (input, expected) => {
    expect(expandIPv6(input)).toBe(expected);
  });

  it("characterStrings splits by bytes, not characters", () => {
    const parts = characterStrings("é".repeat(200)); // 400 bytes
    expect(parts.map((p) => p.length)).toEqual([255, 145]);
    expect(Buffer.concat(parts).toString("utf8")).toBe("é".repeat(200).slice(0, 200));
    expect(characterStrings("")).toEqual([Buffer.alloc(0)]);
  });
});
