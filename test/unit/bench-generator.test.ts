// bench/: the generator's own DNS server, http-01 responder (each on a worker thread) and CSR builder, checked against real parsers (node's resolver,
// OpenSSL's SPKI encoder, Anvil's CSR parser), since a wrong answer here would be measured as a server error.
import { generateKeyPair } from "node:crypto";
import { promises as dns } from "node:dns";
import { request as httpRequest } from "node:http";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answerQuery, startBenchDns, type BenchDns } from "../../bench/dns.js";
import { makeCsr, p256Spki } from "../../bench/csr.js";
import { startResponder } from "../../bench/flow.js";
import { parseCsr } from "../../src/core/csr.js";
import { decodeReply } from "../../src/va/dnsreply.js";

describe("bench DNS server", () => {
  let server: BenchDns;
  let resolver: dns.Resolver;
  beforeAll(async () => {
    server = await startBenchDns(0);
    resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([server.address]);
  });
  afterAll(() => server.close());

  it("answers A 127.0.0.1 for any name, over real UDP", async () => {
    expect(await resolver.resolve4("a1b2c3d4e5f6.bench.test")).toEqual(["127.0.0.1"]);
    expect(await resolver.resolve4("Mixed.Case.Example")).toEqual(["127.0.0.1"]);
  });

  it("answers no records (NOERROR, not NXDOMAIN) for other types", async () => {
    await expect(resolver.resolve6("a1b2c3d4e5f6.bench.test")).rejects.toMatchObject({ code: "ENODATA" });
    await expect(resolver.resolveTxt("_acme-challenge.x.bench.test")).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("builds a reply Anvil's own DNS decoder reads: the query's id and question, one A record", () => {
    const name = Buffer.from([3, ...Buffer.from("www"), 4, ...Buffer.from("test"), 0]);
    const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
    const reply = answerQuery(query)!;
    expect(reply.readUInt16BE(0)).toBe(0x1234);
    expect(reply.readUInt16BE(2) & 0x8000).toBe(0x8000); // a response
    expect(reply.readUInt16BE(2) & 0x0100).toBe(0x0100); // RD echoed
    const decoded = decodeReply(reply);
    expect(decoded.header).toMatchObject({ id: 0x1234, qr: 1, tc: 0, rcode: 0 });
    expect(decoded.questions).toEqual([{ name: "www.test", type: 1, class: 1 }]);
    expect(decoded.answers).toMatchObject([{ name: "www.test", type: 1, address: "127.0.0.1" }]);
  });

  it("drops what is not one standard query: responses, no question, a name running past the message", () => {
    const header = (flags: number, qd: number) => Buffer.from([0, 1, flags >> 8, flags & 0xff, 0, qd, 0, 0, 0, 0, 0, 0]);
    const q = Buffer.from([1, 0x61, 0, 0, 1, 0, 1]);
    expect(answerQuery(Buffer.concat([header(0x8000, 1), q]))).toBeUndefined();
    expect(answerQuery(header(0x0100, 0))).toBeUndefined();
    expect(answerQuery(Buffer.concat([header(0x0100, 1), Buffer.from([9, 0x61])]))).toBeUndefined();
    expect(answerQuery(Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]))).toBeUndefined();
    expect(answerQuery(Buffer.alloc(5))).toBeUndefined();
  });
});

describe("bench CSR", () => {
  it("builds the same SubjectPublicKeyInfo as OpenSSL's encoder, coordinates with leading zero bytes included", async () => {
    // asynchronous key generation, as bench/csr.ts (why: its makeCsr)
    for (let i = 0; i < 600; i++) {
      const { publicKey } = await promisify(generateKeyPair)("ec", { namedCurve: "P-256" });
      expect(p256Spki(publicKey).equals(publicKey.export({ format: "der", type: "spki" }))).toBe(true);
    }
  });

  it("makes a CSR that Anvil's parser accepts, with a valid signature and the names asked for", async () => {
    const csr = await parseCsr(new Uint8Array((await makeCsr(["a.bench.test", "b.bench.test"])).der));
    expect(csr.signatureValid).toBe(true);
    expect(csr.dnsNames).toEqual(["a.bench.test", "b.bench.test"]);
    expect(csr.commonName).toBe("a.bench.test");
  });
});

describe("bench http-01 responder (a worker thread)", () => {
  it("answers <token>.<thumbprint> for a name of a registered account (its label starts the name), 404 otherwise; served() counts the 200s", async () => {
    const responder = await startResponder(0);
    // as a validating server asks: the name in Host, the token in the path (RFC 8555 §8.3)
    const get = (host: string, path: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: responder.port, path, headers: { host } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        });
        req.on("error", reject);
        req.end();
      });
    const token = "T".repeat(43);
    const path = `/.well-known/acme-challenge/${token}`;
    try {
      expect((await get("a1-0123abcd.bench.test", path)).status).toBe(404); // no account yet
      const first = await responder.account("thumb-one");
      const second = await responder.account("thumb-two");
      expect(first).not.toBe(second);
      expect(await get(`${first}-0123abcd.bench.test`, path)).toEqual({ status: 200, text: `${token}.thumb-one` });
      expect(await get(`${second.toUpperCase()}-99.bench.test:5002`, path)).toEqual({ status: 200, text: `${token}.thumb-two` });
      expect(responder.served()).toBe(2);
      expect((await get(`${first}-0123abcd.bench.test`, "/.well-known/acme-challenge/short")).status).toBe(404); // not a token
      expect((await get(`${first}-0123abcd.bench.test`, "/elsewhere")).status).toBe(404);
      expect((await get("zz-0123abcd.bench.test", path)).status).toBe(404); // nobody's label
      expect(responder.served()).toBe(2);
    } finally {
      await responder.close();
    }
    await expect(fetch(`http://127.0.0.1:${responder.port}/`)).rejects.toThrow(); // closed: nothing listens
  });
});
