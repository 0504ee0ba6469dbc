// The test DNS server over real sockets: each management endpoint called over HTTP, its effect read
// back with real DNS queries (node:dns, i.e. c-ares, over UDP with its own TCP fallback, and raw
// UDP/TCP sockets), plus the VA's own resolver through an acme-dns CNAME.
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import dns2 from "dns2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestDns, type TestDnsService } from "../../src/testdns/index.js";
import { createResolver } from "../../src/va/index.js";

const { Packet } = dns2;
let srv: TestDnsService;
let resolver: dns.promises.Resolver;

beforeAll(async () => {
  srv = await startTestDns({ config: { listen: "127.0.0.1:0", apiListen: "127.0.0.1:0", defaultIPv4: "127.0.0.1", defaultIPv6: "" } });
  resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([srv.dnsAddress]);
});
afterAll(async () => {
  await srv?.close();
});

async function api(path: string, body?: unknown, init: { method?: string; headers?: Record<string, string>; raw?: string } = {}) {
  const res = await fetch(`${srv.apiUrl}${path}`, {
    method: init.method ?? "POST",
    headers: init.headers,
    body: init.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, any> };
}

async function ok(path: string, body: unknown) {
  const r = await api(path, body);
  expect(r.status, `${path}: ${r.text}`).toBe(200);
  return r;
}

const txtOf = async (name: string) => (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
const dnsCode = (p: Promise<unknown>) => p.then(() => "answered", (e: NodeJS.ErrnoException) => e.code);

describe("pebble-challtestsrv endpoints", () => {
  it("/set-txt adds values (keys in any case, FQDN with a trailing dot); /clear-txt removes them all", async () => {
    await ok("/set-txt", { host: "_acme-challenge.one.test.", value: "first" });
    await ok("/set-txt", { Host: "_ACME-CHALLENGE.one.test", Value: "second" });
    expect((await txtOf("_acme-challenge.one.test")).sort()).toEqual(["first", "second"]);
    await ok("/clear-txt", { host: "_acme-challenge.one.test" });
    expect(await dnsCode(resolver.resolveTxt("_acme-challenge.one.test"))).toBe("ENODATA");
  });

  it("answers the default A for any name; /add-a and /clear-a override it", async () => {
    expect(await resolver.resolve4("never-mentioned.example")).toEqual(["127.0.0.1"]);
    await ok("/add-a", { host: "www.a.test", addresses: ["192.0.2.10", "192.0.2.11"] });
    expect((await resolver.resolve4("WWW.a.test")).sort()).toEqual(["192.0.2.10", "192.0.2.11"]);
    await ok("/clear-a", { host: "www.a.test" });
    expect(await resolver.resolve4("www.a.test")).toEqual(["127.0.0.1"]);
  });

  it("/add-aaaa, /clear-aaaa and /set-default-ipv6; no AAAA while the default is empty", async () => {
    expect(await dnsCode(resolver.resolve6("v6.test"))).toBe("ENODATA");
    await ok("/add-aaaa", { host: "v6.test", addresses: ["2001:db8::1", "::ffff:192.0.2.1"] });
    expect((await resolver.resolve6("v6.test")).sort()).toEqual(["2001:db8::1", "::ffff:192.0.2.1"]);
    await ok("/clear-aaaa", { host: "v6.test" });
    await ok("/set-default-ipv6", { ip: "::1" });
    expect(await resolver.resolve6("v6.test")).toEqual(["::1"]);
    await ok("/set-default-ipv6", { ip: "" });
    expect(await dnsCode(resolver.resolve6("v6.test"))).toBe("ENODATA");
  });

  it("/set-default-ipv4 changes, then with \"\" stops, the default A", async () => {
    await ok("/set-default-ipv4", { ip: "192.0.2.99" });
    expect(await resolver.resolve4("default.test")).toEqual(["192.0.2.99"]);
    await ok("/set-default-ipv4", { ip: "" });
    expect(await dnsCode(resolver.resolve4("default.test"))).toBe("ENODATA");
    await ok("/set-default-ipv4", { ip: "127.0.0.1" });
  });

  it("/add-caa and /clear-caa", async () => {
    await ok("/add-caa", { host: "caa.test", policies: [{ tag: "issue", value: "anvil.test" }, { tag: "iodef", value: "mailto:ca@caa.test" }] });
    expect(await resolver.resolveCaa("caa.test")).toEqual([
      { critical: 0, issue: "anvil.test" },
      { critical: 0, iodef: "mailto:ca@caa.test" },
    ]);
    await ok("/clear-caa", { host: "caa.test" });
    expect(await dnsCode(resolver.resolveCaa("caa.test"))).toBe("ENODATA");
  });

  it("/set-cname: CNAME questions get the alias, others follow it to the target's records", async () => {
    await ok("/set-txt", { host: "target.c.test", value: "behind-the-alias" });
    await ok("/add-a", { host: "target.c.test", addresses: ["192.0.2.5"] });
    await ok("/set-cname", { host: "_acme-challenge.c.test", target: "target.c.test." });
    expect(await resolver.resolveCname("_acme-challenge.c.test")).toEqual(["target.c.test"]);
    expect(await txtOf("_acme-challenge.c.test")).toEqual(["behind-the-alias"]);
    expect(await resolver.resolve4("_acme-challenge.c.test")).toEqual(["192.0.2.5"]);
    await ok("/clear-cname", { host: "_acme-challenge.c.test" });
    expect(await dnsCode(resolver.resolveTxt("_acme-challenge.c.test"))).toBe("ENODATA");
  });

  it("/set-servfail and /clear-servfail", async () => {
    await ok("/set-servfail", { host: "sf.test" });
    expect(await dnsCode(resolver.resolve4("sf.test"))).toBe("ESERVFAIL");
    await ok("/clear-servfail", { host: "sf.test" });
    expect(await resolver.resolve4("sf.test")).toEqual(["127.0.0.1"]);
  });
});

describe("lego httpreq endpoints", () => {
  it("/present adds {fqdn, value}; /cleanup removes only that value", async () => {
    await ok("/present", { fqdn: "_acme-challenge.lego.test.", value: "for-wildcard" });
    await ok("/present", { fqdn: "_acme-challenge.lego.test.", value: "for-base" });
    expect((await txtOf("_acme-challenge.lego.test")).sort()).toEqual(["for-base", "for-wildcard"]);
    await ok("/cleanup", { fqdn: "_acme-challenge.lego.test.", value: "for-wildcard" });
    expect(await txtOf("_acme-challenge.lego.test")).toEqual(["for-base"]);
  });

  it("RAW mode {domain, token, keyAuth}: the TXT value is base64url(SHA-256(keyAuth)) at _acme-challenge", async () => {
    const keyAuth = "token123.thumbprint456";
    const expected = createHash("sha256").update(keyAuth).digest("base64url");
    await ok("/present", { domain: "*.raw.test", token: "token123", keyAuth });
    expect(await txtOf("_acme-challenge.raw.test")).toEqual([expected]);
    await ok("/cleanup", { domain: "raw.test", token: "token123", keyAuth });
    expect(await dnsCode(resolver.resolveTxt("_acme-challenge.raw.test"))).toBe("ENODATA");
  });
});

describe("acme-dns endpoints", () => {
  const value = (c: string) => c.repeat(43);
  let reg: Record<string, any>;
  beforeEach(async () => {
    const r = await api("/register");
    expect(r.status).toBe(201);
    reg = r.json();
  });
  const update = (body: Record<string, unknown>, user = reg.username as string, key = reg.password as string) =>
    api("/update", body, { headers: { "X-Api-User": user, "X-Api-Key": key } });

  it("/register returns credentials and a subdomain of the acme-dns zone", () => {
    expect(reg.username).toMatch(/^[0-9a-f-]{36}$/);
    expect(reg.password).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(reg.subdomain).toMatch(/^[0-9a-f-]{36}$/);
    expect(reg.fulldomain).toBe(`${reg.subdomain}.acme-dns.anvil.internal`);
    expect(reg.allowfrom).toEqual([]);
  });

  it("/update sets the TXT, keeping the last two values", async () => {
    for (const c of ["a", "b", "c"]) {
      const r = await update({ subdomain: reg.subdomain, txt: value(c) });
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ txt: value(c) });
    }
    expect((await txtOf(reg.fulldomain)).sort()).toEqual([value("b"), value("c")]);
  });

  it("a CNAME from _acme-challenge.<name> to the fulldomain is what the VA's resolver follows", async () => {
    await update({ subdomain: reg.subdomain, txt: value("z") });
    await ok("/set-cname", { host: "_acme-challenge.delegated.test", target: reg.fulldomain });
    const va = createResolver({ server: srv.dnsAddress, timeoutMs: 2000 });
    expect(await va.lookupTxt("_acme-challenge.delegated.test")).toEqual([value("z")]);
  });

  it.each([
    ["a wrong key", (r: Record<string, any>) => ({ user: r.username, key: "x".repeat(40), sub: r.subdomain })],
    ["an unknown user", (r: Record<string, any>) => ({ user: "00000000-0000-0000-0000-000000000000", key: r.password, sub: r.subdomain })],
    ["another account's subdomain", (_r: Record<string, any>, other: Record<string, any>) => ({ user: _r.username, key: _r.password, sub: other.subdomain })],
  ])("/update with %s → 401 forbidden, and the TXT is unchanged", async (_what, pick) => {
    const other = (await api("/register")).json();
    const { user, key, sub } = pick(reg, other);
    const r = await update({ subdomain: sub, txt: value("q") }, user, key);
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ error: "forbidden" });
    expect(await dnsCode(resolver.resolveTxt(reg.fulldomain))).toBe("ENODATA");
    expect(await dnsCode(resolver.resolveTxt(other.fulldomain))).toBe("ENODATA");
  });

  it("/update without credentials → 401; with a TXT that is not 43 base64url characters → 400 bad_txt", async () => {
    expect((await api("/update", { subdomain: reg.subdomain, txt: value("a") })).status).toBe(401);
    const bad = await update({ subdomain: reg.subdomain, txt: "too-short" });
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({ error: "bad_txt" });
  });

  it("allowfrom: updates only from the listed networks; invalid entries are dropped", async () => {
    const outside = (await api("/register", { allowfrom: ["192.0.2.0/24", "not-a-cidr"] })).json();
    expect(outside.allowfrom).toEqual(["192.0.2.0/24"]);
    const denied = await update({ subdomain: outside.subdomain, txt: value("d") }, outside.username, outside.password);
    expect(denied.status).toBe(401);
    const inside = (await api("/register", { allowfrom: ["127.0.0.0/8"] })).json();
    const allowed = await update({ subdomain: inside.subdomain, txt: value("e") }, inside.username, inside.password);
    expect(allowed.status).toBe(200);
  });
});

describe("API errors and read-only endpoints", () => {
  it.each([
    ["/no-such-thing", {}, 404, /no such endpoint/],
    ["/set-txt", { value: "v" }, 400, /host: a non-empty string is required/],
    ["/set-txt", { host: "bad host.test", value: "v" }, 400, /not a DNS name/],
    ["/add-a", { host: "a.test", addresses: ["::1"] }, 400, /not an IPv4 address/],
    ["/add-a", { host: "a.test", addresses: "10.0.0.1" }, 400, /addresses: a non-empty array/],
    ["/add-caa", { host: "a.test", policies: [] }, 400, /policies: a non-empty array/],
    ["/set-default-ipv4", { ip: "::1" }, 400, /not an IPv4 address/],
    ["/present", { fqdn: "_acme-challenge.x.test" }, 400, /value: a non-empty string/],
  ])("POST %s %j → %i", async (path, body, status, message) => {
    const r = await api(path, body);
    expect(r.status).toBe(status);
    expect(r.text).toMatch(message);
  });

  it("refuses a body that is not a JSON object, a GET on a POST endpoint, and a body over 64 KiB", async () => {
    expect((await api("/set-txt", undefined, { raw: "host=x" })).status).toBe(400);
    expect((await api("/set-txt", undefined, { raw: "[1]" })).text).toMatch(/JSON object/);
    expect((await api("/set-txt", undefined, { method: "GET" })).status).toBe(405);
    expect((await api("/set-txt", undefined, { raw: JSON.stringify({ host: "a.test", value: "x".repeat(70_000) }) })).status).toBe(413);
  });

  it("GET /health and GET /records (what the server holds)", async () => {
    expect((await api("/health", undefined, { method: "GET" })).json()).toEqual({ status: "ok" });
    await ok("/set-txt", { host: "listed.test", value: "shown" });
    const records = (await api("/records", undefined, { method: "GET" })).json();
    expect(records.defaults).toEqual({ ipv4: "127.0.0.1", ipv6: "" });
    expect(records.names["listed.test"]).toEqual({ txt: ["shown"] });
  });
});

describe("DNS transport", () => {
  const [host, port] = [() => "127.0.0.1", () => Number(srv.dnsAddress.split(":")[1])];

  function wire(name: string, type: number, id: number): Buffer {
    const q = new Packet();
    q.header.id = id;
    q.header.rd = 1;
    q.questions.push({ name, type, class: 1 });
    return q.toBuffer();
  }

  function udpExchange(msg: Buffer): Promise<Buffer> {
    const socket = dgram.createSocket("udp4");
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (socket.close(), reject(new Error("no UDP answer"))), 3000);
      socket.on("message", (reply) => {
        clearTimeout(timer);
        socket.close();
        resolve(reply);
      });
      socket.send(msg, port(), host());
    });
  }

  it("an answer too big for UDP comes back with TC=1, and c-ares gets it whole over TCP", async () => {
    const values = Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(97 + i)}`.repeat(43));
    for (const v of values) await ok("/set-txt", { host: "_acme-challenge.big.test", value: v });
    const udp = Packet.parse(await udpExchange(wire("_acme-challenge.big.test", 16, 4242)));
    expect(udp.header).toMatchObject({ id: 4242, tc: 1 });
    expect(udp.answers).toEqual([]);
    expect((await txtOf("_acme-challenge.big.test")).sort()).toEqual(values);
  });

  it("answers several queries on one TCP connection (RFC 7766)", async () => {
    await ok("/set-txt", { host: "tcp.test", value: "over-tcp" });
    const socket = net.connect(port(), host());
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const frames = [wire("tcp.test", 16, 1), wire("tcp.test", 1, 2)].map((m) => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(m.length);
      return Buffer.concat([len, m]);
    });
    socket.write(Buffer.concat(frames)); // both at once: the server must split them
    const replies: InstanceType<typeof Packet>[] = [];
    let buf = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          replies.push(Packet.parse(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (replies.length === 2) resolve();
      });
    });
    socket.destroy();
    expect(replies.map((r) => [r.header.id, r.answers.map((a) => a.data ?? a.address)])).toEqual([
      [1, ["over-tcp"]],
      [2, ["127.0.0.1"]],
    ]);
  });

  it("a query with a compression pointer to itself gets FORMERR, and the server keeps answering", async () => {
    const hostile = Buffer.from([0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const reply = await udpExchange(hostile);
    expect(reply.readUInt16BE(0)).toBe(7);
    expect(reply.readUInt16BE(2) & 0xf).toBe(1); // FORMERR
    expect(await resolver.resolve4("still-alive.test")).toEqual(["127.0.0.1"]);
  });
});
