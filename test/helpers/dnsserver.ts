// A small authoritative-and-recursive-looking DNS server for tests (dns2, UDP and TCP on 127.0.0.1,
// one ephemeral port). Records are set by the test; CNAMEs are followed within the answer as a
// recursive resolver would, so the client sees the whole chain.
import dns2 from "dns2";

const { Packet } = dns2;
type Packet = InstanceType<typeof Packet>;

export interface TestDns {
  port: number;
  address: string; // "127.0.0.1:<port>"
  setA(name: string, ips: string[]): void;
  setAAAA(name: string, ips: string[]): void;
  setTxt(name: string, values: string[]): void;
  setCname(name: string, target: string): void;
  setFail(name: string, rcode: "SERVFAIL" | "NXDOMAIN"): void;
  /** answer UDP queries for this name with TC=1 and no records, so the client must retry over TCP */
  setTruncated(name: string, on?: boolean): void;
  /** remove every record and setting for the name */
  clear(name: string): void;
  defaultA?: string;
  defaultAAAA?: string;
  /** every question received, in order, with the transport it came over */
  queries: Array<{ name: string; type: string; transport: "udp" | "tcp" }>;
  close(): Promise<void>;
}

export interface TestDnsOptions {
  /** answer this A for any name with no record, e.g. "127.0.0.1" */
  defaultA?: string;
  defaultAAAA?: string;
  /** also listen on TCP (default true) */
  tcp?: boolean;
  /** include the CNAME target's records in the answer (default true); false makes the client chase */
  flattenCname?: boolean;
}

interface Entry {
  A?: string[];
  AAAA?: string[];
  TXT?: string[];
  CNAME?: string;
  fail?: "SERVFAIL" | "NXDOMAIN";
  truncated?: boolean;
}

const RCODE = { SERVFAIL: 2, NXDOMAIN: 3 } as const;
const TYPE_NAMES = Object.fromEntries(Object.entries(Packet.TYPE).map(([k, v]) => [v, k])) as Record<number, string>;
const norm = (name: string) => name.replace(/\.$/, "").toLowerCase();

export async function startTestDns(opts: TestDnsOptions = {}): Promise<TestDns> {
  const zone = new Map<string, Entry>();
  const entry = (name: string) => {
    const key = norm(name);
    if (!zone.has(key)) zone.set(key, {});
    return zone.get(key)!;
  };
  const flatten = opts.flattenCname ?? true;

  const api: TestDns = {
    port: 0,
    address: "",
    defaultA: opts.defaultA,
    defaultAAAA: opts.defaultAAAA,
    queries: [],
    setA: (name, ips) => void (entry(name).A = [...ips]),
    setAAAA: (name, ips) => void (entry(name).AAAA = [...ips]),
    setTxt: (name, values) => void (entry(name).TXT = [...values]),
    setCname: (name, target) => void (entry(name).CNAME = norm(target)),
    setFail: (name, rcode) => void (entry(name).fail = rcode),
    setTruncated: (name, on = true) => void (entry(name).truncated = on),
    clear: (name) => void zone.delete(norm(name)),
    close: async () => undefined,
  };

  function answer(request: Packet, transport: "udp" | "tcp"): Packet {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const q = request.questions[0];
    if (!q) return response;
    api.queries.push({ name: norm(q.name), type: TYPE_NAMES[q.type] ?? String(q.type), transport });
    let name = norm(q.name);
    for (let hops = 0; hops < 16; hops++) {
      const e = zone.get(name);
      if (e?.fail) {
        response.header.rcode = RCODE[e.fail];
        return response;
      }
      if (e?.truncated && transport === "udp") {
        response.header.tc = 1;
        response.answers = [];
        return response;
      }
      if (e?.CNAME && q.type !== Packet.TYPE.CNAME) {
        response.answers.push({ name, type: Packet.TYPE.CNAME, class: Packet.CLASS.IN, ttl: 60, domain: e.CNAME });
        if (!flatten) return response;
        name = e.CNAME;
        continue;
      }
      const records = recordsFor(name, q.type, e);
      if (records === undefined && response.answers.length === 0) response.header.rcode = RCODE.NXDOMAIN;
      response.answers.push(...(records ?? []));
      return response;
    }
    return response;
  }

  /** undefined when the name does not exist at all (NXDOMAIN), [] when it exists without this type */
  function recordsFor(name: string, type: number, e: Entry | undefined) {
    if (!e && !api.defaultA && !api.defaultAAAA) return undefined;
    const base = { name, class: Packet.CLASS.IN, ttl: 60 };
    const a = e?.A ?? (api.defaultA ? [api.defaultA] : []);
    const aaaa = e?.AAAA ?? (api.defaultAAAA ? [api.defaultAAAA] : []);
    if (type === Packet.TYPE.A) return a.map((address) => ({ ...base, type, address }));
    if (type === Packet.TYPE.AAAA) return aaaa.map((address) => ({ ...base, type, address }));
    if (type === Packet.TYPE.TXT) return (e?.TXT ?? []).map((data) => ({ ...base, type, data: splitTxt(data) }));
    return [];
  }

  const servers = await bindSamePort(
    () => {
      const udp = dns2.createUDPServer();
      udp.on("request", (req: Packet, send: (p: Packet) => unknown) => send(answer(req, "udp")));
      udp.on("requestError", () => undefined);
      return udp;
    },
    opts.tcp === false
      ? undefined
      : () => {
          const tcp = dns2.createTCPServer();
          tcp.on("request", (req: Packet, send: (p: Packet) => unknown) => send(answer(req, "tcp")));
          tcp.on("requestError", () => undefined);
          return tcp;
        },
  );
  api.port = servers.port;
  api.address = `127.0.0.1:${api.port}`;
  api.close = async () => {
    await new Promise<void>((resolve) => servers.udp.close(() => resolve()));
    const tcp = servers.tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  };
  return api;
}

/** A TXT character-string holds at most 255 bytes (RFC 1035 §3.3.14); longer values are split. */
function splitTxt(value: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return parts.length ? parts : [""];
}

type UdpServer = ReturnType<typeof dns2.createUDPServer>;
type TcpServer = ReturnType<typeof dns2.createTCPServer>;

/** UDP and TCP on one ephemeral port: bind UDP to port 0, then TCP to the same number (retrying if taken). */
async function bindSamePort(
  makeUdp: () => UdpServer,
  makeTcp: (() => TcpServer) | undefined,
): Promise<{ port: number; udp: UdpServer; tcp?: TcpServer }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = makeUdp();
    await udp.listen(0, "127.0.0.1");
    const port = udp.address().port;
    if (!makeTcp) return { port, udp };
    const tcp = makeTcp();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once("error", () => resolve(false));
      tcp.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) return { port, udp, tcp };
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  }
  throw new Error("could not bind UDP and TCP to the same port");
}
