// The VA's resolver against real DNS servers on loopback: the dns2 test server, and raw UDP sockets
// for the misbehaving-server cases (silence, spoofed replies, a compression loop).
import dgram from "node:dgram";
import dns from "node:dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResolver, DnsError } from "../../src/va/index.js";
import { startTestDns, type TestDns } from "../helpers/dnsserver.js";

let server: TestDns;
beforeAll(async () => {
  server = await startTestDns();
});
afterAll(async () => {
  await server.close();
});

const resolver = () => createResolver({ server: server.address, timeoutMs: 2000 });

async function dnsError(p: Promise<unknown>): Promise<DnsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DnsError);
  return err as DnsError;
}

describe("resolver", () => {
  it("returns A and AAAA addresses, IPv6 in canonical form", async () => {
    server.setA("host.test", ["127.0.0.1", "127.0.0.2"]);
    server.setAAAA("host.test", ["::1", "2001:db8:0:0:0:0:0:5", "0:0:1::"]);
    expect(await resolver().lookupHost("host.test")).toEqual({
      v4: ["127.0.0.1", "127.0.0.2"],
      v6: ["::1", "2001:db8::5", "0:0:1::"],
    });
  });

  it("is case-insensitive and ignores a trailing dot", async () => {
    server.setA("Mixed.test", ["127.0.0.9"]);
    expect((await resolver().lookupHost("MIXED.test.")).v4).toEqual(["127.0.0.9"]);
  });

  it("returns every TXT value, joining a record's character-strings", async () => {
    server.setTxt("_acme-challenge.txt.test", ["one", "x".repeat(300)]);
    const values = await resolver().lookupTxt("_acme-challenge.txt.test");
    expect(values).toEqual(["one", "x".repeat(300)]);
  });

  it("retries over TCP when the UDP answer is truncated", async () => {
    server.setTxt("big.test", ["only-over-tcp"]);
    server.setTruncated("big.test");
    const before = server.queries.length;
    expect(await resolver().lookupTxt("big.test")).toEqual(["only-over-tcp"]);
    expect(server.queries.slice(before)).toEqual([
      { name: "big.test", type: "TXT", transport: "udp" },
      { name: "big.test", type: "TXT", transport: "tcp" },
    ]);
  });

  it("follows a CNAME chain sent whole in one answer", async () => {
    server.setCname("alias.test", "alias2.test");
    server.setCname("alias2.test", "target.test");
    server.setA("target.test", ["127.0.0.3"]);
    server.setTxt("target.test", ["via-cname"]);
    expect((await resolver().lookupHost("alias.test")).v4).toEqual(["127.0.0.3"]);
    expect(await resolver().lookupTxt("alias.test")).toEqual(["via-cname"]);
  });

  it("asks again for a CNAME target the answer does not cover", async () => {
    const chasing = await startTestDns({ flattenCname: false });
    try {
      chasing.setCname("start.test", "middle.test");
      chasing.setCname("middle.test", "end.test");
      chasing.setTxt("end.test", ["chased"]);
      const r = createResolver({ server: chasing.address, timeoutMs: 2000 });
      expect(await r.lookupTxt("start.test")).toEqual(["chased"]);
      expect(chasing.queries.map((q) => q.name)).toEqual(["start.test", "middle.test", "end.test"]);
    } finally {
      await chasing.close();
    }
  });

  it("stops at a CNAME loop and at a chain that is too long", async () => {
    const chasing = await startTestDns({ flattenCname: false });
    try {
      chasing.setCname("loop1.test", "loop2.test");
      chasing.setCname("loop2.test", "loop1.test");
      for (let i = 0; i < 12; i++) chasing.setCname(`c${i}.test`, `c${i + 1}.test`);
      chasing.setTxt("c12.test", ["too far"]);
      const r = createResolver({ server: chasing.address, timeoutMs: 2000 });
      expect((await dnsError(r.lookupTxt("loop1.test"))).reason).toBe("CNAME loop");
      expect((await dnsError(r.lookupTxt("c0.test"))).reason).toMatch(/CNAME chain longer than 8/);
    } finally {
      await chasing.close();
    }
  });

  it("reports NXDOMAIN and SERVFAIL with the name, type and resolver", async () => {
    server.setFail("broken.test", "SERVFAIL");
    const nx = await dnsError(resolver().lookupHost("missing.test"));
    expect(nx.reason).toBe("NXDOMAIN");
    expect(nx.message).toBe(`NXDOMAIN looking up A for missing.test (resolver ${server.address})`);
    const sf = await dnsError(resolver().lookupTxt("broken.test"));
    expect(sf.reason).toBe("SERVFAIL");
    expect(sf.message).toBe(`SERVFAIL looking up TXT for broken.test (resolver ${server.address})`);
  });

  it("names the CNAME target that does not exist", async () => {
    server.setCname("dangling.test", "gone.test");
    const err = await dnsError(resolver().lookupTxt("dangling.test"));
    expect(err.reason).toBe("NXDOMAIN");
    expect(err.qname).toBe("gone.test (CNAME target of dangling.test)");
  });

  it("returns no records for a name that exists without the type", async () => {
    server.setTxt("onlytxt.test", ["x"]);
    expect(await resolver().lookupHost("onlytxt.test")).toEqual({ v4: [], v6: [] });
    expect(await resolver().lookupTxt("host.test")).toEqual([]);
  });

  it("answers defaultA for unknown names when the server has one", async () => {
    const withDefault = await startTestDns({ defaultA: "127.0.0.1" });
    try {
      const r = createResolver({ server: withDefault.address });
      expect(await r.lookupHost("anything.test")).toEqual({ v4: ["127.0.0.1"], v6: [] });
    } finally {
      await withDefault.close();
    }
  });

  it("uses the system's resolvers (node:dns getServers) when no server is configured", async () => {
    server.setA("system.test", ["127.0.0.4"]);
    const saved = dns.getServers();
    dns.setServers([server.address]); // restored at once: only the resolver's creation reads it
    let r: ReturnType<typeof createResolver>;
    try {
      r = createResolver({ timeoutMs: 2000 });
    } finally {
      dns.setServers(saved);
    }
    expect(r.servers).toEqual([server.address]);
    expect((await r.lookupHost("system.test")).v4).toEqual(["127.0.0.4"]);
  });
});

describe("resolver against misbehaving servers", () => {
  async function rawServer(reply: (query: Buffer, send: (b: Buffer) => void) => void) {
    const socket = dgram.createSocket("udp4");
    socket.on("message", (msg, rinfo) => reply(msg, (b) => socket.send(b, rinfo.port, rinfo.address)));
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return { address: `127.0.0.1:${socket.address().port}`, close: () => new Promise<void>((r) => socket.close(() => r())) };
  }

  /** A reply to `query` with the given id and a single A record whose owner name is `owner`. */
  function replyTo(query: Buffer, id: number, owner: Buffer): Buffer {
    const header = Buffer.from(query.subarray(0, 12));
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 6);
    const question = query.subarray(12);
    return Buffer.concat([header, question, owner, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 7])]);
  }

  it("times out on a server that never answers", async () => {
    const silent = await rawServer(() => undefined);
    try {
      const err = await dnsError(createResolver({ server: silent.address, timeoutMs: 300 }).lookupTxt("quiet.test"));
      expect(err.reason).toBe("timeout");
      expect(err.message).toBe(`timeout looking up TXT for quiet.test (resolver ${silent.address})`);
    } finally {
      await silent.close();
    }
  });

  it("ignores a reply with another ID and takes the real one", async () => {
    const spoofing = await rawServer((query, send) => {
      const id = query.readUInt16BE(0);
      send(replyTo(query, (id + 1) & 0xffff, Buffer.from([0xc0, 12])));
      setTimeout(() => send(replyTo(query, id, Buffer.from([0xc0, 12]))), 20);
    });
    try {
      const r = createResolver({ server: spoofing.address, timeoutMs: 2000 });
      expect((await r.lookupHost("spoofed.test")).v4).toEqual(["127.0.0.7"]);
    } finally {
      await spoofing.close();
    }
  });

  it("does not hang on a compression pointer loop", async () => {
    const looping = await rawServer((query, send) => {
      const selfOffset = query.length; // the owner name starts right after the echoed question
      send(replyTo(query, query.readUInt16BE(0), Buffer.from([0xc0, selfOffset])));
    });
    try {
      const err = await dnsError(createResolver({ server: looping.address, timeoutMs: 300 }).lookupHost("loop.test"));
      expect(err.reason).toBe("timeout");
    } finally {
      await looping.close();
    }
  });
});
