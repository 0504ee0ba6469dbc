// The VA's DNS reply decoder (src/va/dnsreply.ts, RFC 1035 §4.1): what it reads from messages dns2
// writes (the library the test DNS server answers with), compression pointers (RFC 1035 §4.1.4), and
// malformed messages, each refused without hanging or reading past the end.
import dns2 from "dns2";
import { describe, expect, it } from "vitest";
import { canonicalIp } from "../../src/core/index.js";
import { decodeReply, DNS_TYPE, MalformedDnsMessage } from "../../src/va/dnsreply.js";

const { Packet } = dns2;

/** A reply as dns2 encodes it (no name compression). */
function dns2Reply(answers: Record<string, unknown>[], header: Record<string, number> = {}): Buffer {
  const p = new Packet();
  Object.assign(p.header, { id: 0x1234, qr: 1, rd: 1, ra: 1 }, header);
  p.questions.push({ name: "x.bench.test", type: Packet.TYPE.A, class: Packet.CLASS.IN });
  for (const a of answers) p.answers.push({ class: Packet.CLASS.IN, ttl: 60, ...a } as never);
  return p.toBuffer();
}

// header (id 1, QR RD RA, 1 question, `an` answers) + question "a.test" A IN at offset 12
const header = (an: number, ns = 0) => Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, an, 0, ns, 0, 0]);
const question = Buffer.from([1, 0x61, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1]);
const QNAME = 12; // where the question's name starts
const rr = (owner: Buffer, type: number, rdata: Buffer) => {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(300, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
};
const pointer = (to: number) => Buffer.from([0xc0 | (to >> 8), to & 0xff]);
const A_LOCAL = Buffer.from([127, 0, 0, 1]);

describe("decodeReply: what dns2 writes", () => {
  it("reads the header and the question", () => {
    const r = decodeReply(dns2Reply([], { rcode: 3, tc: 1 }));
    expect(r.header).toEqual({ id: 0x1234, qr: 1, tc: 1, rcode: 3 });
    expect(r.questions).toEqual([{ name: "x.bench.test", type: DNS_TYPE.A, class: 1 }]);
    expect(r.answers).toEqual([]);
  });

  it("reads A, AAAA, CNAME and TXT records as dns2 reads them back", () => {
    const wire = dns2Reply([
      { name: "x.bench.test", type: Packet.TYPE.CNAME, domain: "y.bench.test" },
      { name: "y.bench.test", type: Packet.TYPE.A, address: "192.0.2.7" },
      { name: "y.bench.test", type: Packet.TYPE.AAAA, address: "2001:db8:0:0:0:0:0:1" },
      { name: "y.bench.test", type: Packet.TYPE.AAAA, address: "0:0:0:0:0:0:0:1" },
      { name: "_acme-challenge.y.bench.test", type: Packet.TYPE.TXT, data: ["LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI", "-i_X336eUOQZo"] },
    ]);
    const mine = decodeReply(wire);
    const theirs = Packet.parse(wire);
    expect(mine.answers.map((a) => [a.name, a.type, a.class, a.ttl])).toEqual(theirs.answers.map((a) => [a.name, a.type, a.class, a.ttl]));
    expect(mine.answers[0]!.domain).toBe("y.bench.test");
    expect(mine.answers[1]!.address).toBe("192.0.2.7");
    expect(canonicalIp(mine.answers[2]!.address!)).toBe("2001:db8::1");
    expect(canonicalIp(mine.answers[3]!.address!)).toBe("::1"); // dns2 itself prints ":1" for this one
    expect(mine.answers[4]!.data).toBe("LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo");
    expect(mine.answers[4]!.data).toBe(theirs.answers[4]!.data);
  });

  it("skips the data of other types, keeping the record", () => {
    const wire = dns2Reply([{ name: "x.bench.test", type: Packet.TYPE.CAA, flags: 0, tag: "issue", value: "anvil.test" }]);
    expect(decodeReply(wire).answers).toEqual([{ name: "x.bench.test", type: DNS_TYPE.CAA, class: 1, ttl: 60 }]);
  });
});

describe("decodeReply: compression (RFC 1035 §4.1.4)", () => {
  it("follows pointers back to the question's name, in owners and in a CNAME's target", () => {
    // answer 1: owner → "a.test"; CNAME target "www" + pointer → "www.a.test"
    const cname = rr(pointer(QNAME), DNS_TYPE.CNAME, Buffer.concat([Buffer.from([3, 0x77, 0x77, 0x77]), pointer(QNAME)]));
    const msg = Buffer.concat([header(2), question, cname]);
    const wwwAt = msg.length - 6; // where the CNAME's target begins
    const a = rr(pointer(wwwAt), DNS_TYPE.A, A_LOCAL);
    const r = decodeReply(Buffer.concat([msg, a]));
    expect(r.answers.map((x) => [x.name, x.domain ?? x.address])).toEqual([
      ["a.test", "www.a.test"],
      ["www.a.test", "127.0.0.1"],
    ]);
  });

  it("refuses a pointer to itself or forwards (either would loop or read what follows)", () => {
    const self = header(1).length + question.length;
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(pointer(self), DNS_TYPE.A, A_LOCAL)]))).toThrow(MalformedDnsMessage);
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(pointer(0xff), DNS_TYPE.A, A_LOCAL)]))).toThrow(/backwards/);
  });

  it("refuses a loop of labels and a backward pointer (the name grows past 255 octets) and ends", () => {
    const at = header(1).length + question.length;
    // owner: label "loop" then a pointer back to that label: loop.loop.loop…
    const owner = Buffer.concat([Buffer.from([4, 0x6c, 0x6f, 0x6f, 0x70]), pointer(at)]);
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(owner, DNS_TYPE.A, A_LOCAL)]))).toThrow(/255 octets/);
  });
});

describe("decodeReply: malformed messages", () => {
  const good = Buffer.concat([header(1), question, rr(pointer(QNAME), DNS_TYPE.A, A_LOCAL)]);

  it("a well-formed message decodes", () => {
    expect(decodeReply(good).answers[0]).toEqual({ name: "a.test", type: DNS_TYPE.A, class: 1, ttl: 300, address: "127.0.0.1" });
  });

  it("refuses every truncation of it", () => {
    for (let n = 0; n < good.length; n++) expect(() => decodeReply(good.subarray(0, n)), `cut at ${n}`).toThrow(MalformedDnsMessage);
  });

  it("refuses records in the authority section that run past the end", () => {
    const cut = Buffer.concat([header(1, 1), question, rr(pointer(QNAME), DNS_TYPE.A, A_LOCAL), pointer(QNAME), Buffer.from([0, 2, 0, 1])]);
    expect(() => decodeReply(cut)).toThrow(MalformedDnsMessage);
  });

  it("refuses a TXT character-string longer than its record and a CNAME target that does not fill its record", () => {
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(pointer(QNAME), DNS_TYPE.TXT, Buffer.from([5, 0x61, 0x62]))]))).toThrow(/TXT/);
    const long = Buffer.concat([pointer(QNAME), Buffer.from([0])]);
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(pointer(QNAME), DNS_TYPE.CNAME, long)]))).toThrow(/CNAME/);
  });

  it("refuses the reserved label types (0x40, 0x80)", () => {
    expect(() => decodeReply(Buffer.concat([header(1), question, rr(Buffer.from([0x41, 0]), DNS_TYPE.A, A_LOCAL)]))).toThrow(/label/);
  });

  it("keeps an A or AAAA record of the wrong length without an address", () => {
    const r = decodeReply(
      Buffer.concat([header(2), question, rr(pointer(QNAME), DNS_TYPE.A, Buffer.from([1, 2, 3])), rr(pointer(QNAME), DNS_TYPE.AAAA, A_LOCAL)]),
    );
    expect(r.answers.map((a) => a.address)).toEqual([undefined, undefined]);
  });
});
