// The test DNS server's data: records per name, set through the management API, and the answer to a
// question. Everything lives in memory and is bounded: a name count, values per name and type, and a
// byte budget; when full, the names written longest ago are dropped first (a staging server runs for
// months while clients forget to clean up, and the record being validated now is never the oldest).
import { ipv4, ipv6, normalizeHost, TestDnsInputError, wireKey, type RecordType } from "./names.js";

export interface CaaPolicy {
  flag: number;
  tag: string;
  value: string;
}

/** One record of an answer; `name` is the owner name. */
export type Answer =
  | { name: string; type: "A" | "AAAA"; address: string }
  | { name: string; type: "TXT"; value: string }
  | { name: string; type: "CNAME"; target: string }
  | ({ name: string; type: "CAA" } & CaaPolicy);

export interface Resolution {
  rcode: "NOERROR" | "SERVFAIL";
  answers: Answer[];
}

export interface ZoneLimits {
  /** names that hold any record */
  maxNames: number;
  /** values per name and type; TXT keeps the newest, A/AAAA/CAA refuse more */
  maxValuesPerType: number;
  /** bytes of one TXT or CAA value */
  maxValueBytes: number;
  /** an estimate of everything stored */
  maxBytes: number;
}

export const DEFAULT_LIMITS: ZoneLimits = { maxNames: 10_000, maxValuesPerType: 16, maxValueBytes: 1024, maxBytes: 8 * 1024 * 1024 };

/** How many CNAMEs an answer follows before it stops (RFC 1034 leaves it to the server). */
const MAX_CHAIN = 8;

export interface ZoneOptions {
  defaultIPv4?: string;
  defaultIPv6?: string;
  limits?: Partial<ZoneLimits>;
  /** called with each name dropped to stay within the limits */
  onEvict?: (host: string) => void;
}

export interface NameRecords {
  txt?: string[];
  a?: string[];
  aaaa?: string[];
  caa?: CaaPolicy[];
  cname?: string;
  servfail?: true;
}

export interface Zone {
  /** Adds a TXT value (a repeated value moves to the newest place); `keep` caps the values kept. */
  addTxt(host: string, value: string, opts?: { keep?: number }): void;
  /** Removes one TXT value; false when the name did not hold it. */
  removeTxt(host: string, value: string): boolean;
  clearTxt(host: string): void;
  addA(host: string, addresses: string[]): void;
  clearA(host: string): void;
  addAAAA(host: string, addresses: string[]): void;
  clearAAAA(host: string): void;
  addCaa(host: string, policies: Array<{ tag: string; value: string; flag?: number }>): void;
  clearCaa(host: string): void;
  setCname(host: string, target: string): void;
  clearCname(host: string): void;
  setServfail(host: string): void;
  clearServfail(host: string): void;
  /** "" stops the default answer */
  setDefaultIPv4(ip: string): void;
  setDefaultIPv6(ip: string): void;
  readonly defaults: { ipv4: string; ipv6: string };
  /** The answer to a question; `qtype` is "A", "TXT", ... or any other text for types without data. */
  answer(qname: string, qtype: RecordType | string): Resolution;
  /** Every name and its records, for the API's GET /records. */
  dump(): Record<string, NameRecords>;
  readonly size: number;
}

interface Entry {
  txt: string[];
  a: string[];
  aaaa: string[];
  caa: CaaPolicy[];
  cname?: string;
  servfail: boolean;
  bytes: number;
}

const CAA_TAG = /^[a-zA-Z0-9]{1,15}$/; // RFC 8659 §4.1

export function createZone(opts: ZoneOptions = {}): Zone {
  const limits: ZoneLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const entries = new Map<string, Entry>();
  let total = 0;
  const defaults = {
    ipv4: opts.defaultIPv4 ? ipv4(opts.defaultIPv4, "defaultIPv4") : "",
    ipv6: opts.defaultIPv6 ? ipv6(opts.defaultIPv6, "defaultIPv6") : "",
  };

  /** Validates and changes one name's records, then re-files it as the newest and evicts if over. */
  function edit(host: string, change: (e: Entry) => void): void {
    const key = normalizeHost(host);
    const existing = entries.get(key);
    const e = existing ?? { txt: [], a: [], aaaa: [], caa: [], servfail: false, bytes: 0 };
    change(e); // throws before changing anything when the input is bad
    if (existing) {
      entries.delete(key);
      total -= existing.bytes;
    }
    if (isEmpty(e)) return;
    e.bytes = sizeOf(key, e);
    entries.set(key, e);
    total += e.bytes;
    evictFor(key);
  }

  function evictFor(keep: string): void {
    for (const [key, e] of entries) {
      if (entries.size <= limits.maxNames && total <= limits.maxBytes) return;
      if (key === keep) continue;
      entries.delete(key);
      total -= e.bytes;
      opts.onEvict?.(key);
    }
  }

  function checkValue(value: unknown, field: string): string {
    if (typeof value !== "string" || value === "") throw new TestDnsInputError(`${field}: a non-empty string is required`);
    if (Buffer.byteLength(value) > limits.maxValueBytes) throw new TestDnsInputError(`${field}: longer than ${limits.maxValueBytes} bytes`);
    return value;
  }

  function merge<T>(current: T[], added: T[], same: (a: T, b: T) => boolean, what: string): T[] {
    const out = [...current];
    for (const item of added) if (!out.some((x) => same(x, item))) out.push(item);
    if (out.length > limits.maxValuesPerType) throw new TestDnsInputError(`at most ${limits.maxValuesPerType} ${what} per name`);
    return out;
  }

  function addresses(list: string[], family: "A" | "AAAA"): string[] {
    if (!Array.isArray(list) || list.length === 0) throw new TestDnsInputError("addresses: a non-empty array is required");
    return list.map((ip, i) => (family === "A" ? ipv4(ip, `addresses[${i}]`) : ipv6(ip, `addresses[${i}]`)));
  }

  function caaPolicy(p: { tag: string; value: string; flag?: number }, i: number): CaaPolicy {
    if (typeof p !== "object" || p === null) throw new TestDnsInputError(`policies[${i}]: an object with tag and value is required`);
    if (typeof p.tag !== "string" || !CAA_TAG.test(p.tag)) throw new TestDnsInputError(`policies[${i}].tag: 1 to 15 letters or digits, e.g. "issue"`);
    const flag = p.flag ?? 0;
    if (!Number.isInteger(flag) || flag < 0 || flag > 255) throw new TestDnsInputError(`policies[${i}].flag: an integer from 0 to 255`);
    return { flag, tag: p.tag.toLowerCase(), value: checkValue(p.value, `policies[${i}].value`) };
  }

  function records(owner: string, qtype: string, e: Entry | undefined): Answer[] {
    const name = owner;
    switch (qtype) {
      case "A":
        return (e?.a.length ? e.a : defaults.ipv4 ? [defaults.ipv4] : []).map((address) => ({ name, type: "A", address }));
      case "AAAA":
        return (e?.aaaa.length ? e.aaaa : defaults.ipv6 ? [defaults.ipv6] : []).map((address) => ({ name, type: "AAAA", address }));
      case "TXT":
        return (e?.txt ?? []).map((value) => ({ name, type: "TXT", value }));
      case "CAA":
        return (e?.caa ?? []).map((p) => ({ name, type: "CAA", ...p }));
      case "CNAME":
        return e?.cname ? [{ name, type: "CNAME", target: e.cname }] : [];
      default:
        return []; // types we hold no data for: an empty NOERROR
    }
  }

  return {
    addTxt(host, value, o = {}) {
      const v = checkValue(value, "value");
      const keep = Math.max(1, Math.min(o.keep ?? limits.maxValuesPerType, limits.maxValuesPerType));
      edit(host, (e) => void (e.txt = [...e.txt.filter((x) => x !== v), v].slice(-keep)));
    },
    removeTxt(host, value) {
      let removed = false;
      edit(host, (e) => {
        removed = e.txt.includes(value);
        e.txt = e.txt.filter((x) => x !== value);
      });
      return removed;
    },
    clearTxt: (host) => edit(host, (e) => void (e.txt = [])),
    addA(host, list) {
      const valid = addresses(list, "A");
      edit(host, (e) => void (e.a = merge(e.a, valid, (x, y) => x === y, "A records")));
    },
    clearA: (host) => edit(host, (e) => void (e.a = [])),
    addAAAA(host, list) {
      const valid = addresses(list, "AAAA");
      edit(host, (e) => void (e.aaaa = merge(e.aaaa, valid, (x, y) => x === y, "AAAA records")));
    },
    clearAAAA: (host) => edit(host, (e) => void (e.aaaa = [])),
    addCaa(host, policies) {
      if (!Array.isArray(policies) || policies.length === 0) throw new TestDnsInputError("policies: a non-empty array is required");
      const valid = policies.map(caaPolicy);
      const same = (x: CaaPolicy, y: CaaPolicy) => x.flag === y.flag && x.tag === y.tag && x.value === y.value;
      edit(host, (e) => void (e.caa = merge(e.caa, valid, same, "CAA records")));
    },
    clearCaa: (host) => edit(host, (e) => void (e.caa = [])),
    setCname(host, target) {
      const to = normalizeHost(target, "target");
      if (to === normalizeHost(host)) throw new TestDnsInputError("target: a CNAME cannot point to its own name");
      edit(host, (e) => void (e.cname = to));
    },
    clearCname: (host) => edit(host, (e) => void (e.cname = undefined)),
    setServfail: (host) => edit(host, (e) => void (e.servfail = true)),
    clearServfail: (host) => edit(host, (e) => void (e.servfail = false)),
    setDefaultIPv4(ip) {
      defaults.ipv4 = ip === "" ? "" : ipv4(ip, "ip");
    },
    setDefaultIPv6(ip) {
      defaults.ipv6 = ip === "" ? "" : ipv6(ip, "ip");
    },
    get defaults() {
      return { ...defaults };
    },
    answer(qname, qtype) {
      const answers: Answer[] = [];
      const seen = new Set<string>();
      let owner = qname;
      let key = wireKey(qname);
      for (let hop = 0; hop <= MAX_CHAIN; hop++) {
        const e = entries.get(key);
        if (e?.servfail) return { rcode: "SERVFAIL", answers: [] };
        if (!e?.cname || qtype === "CNAME") {
          answers.push(...records(owner, qtype, e));
          break;
        }
        // as a recursive resolver would: the CNAME, then what its target holds
        answers.push({ name: owner, type: "CNAME", target: e.cname });
        seen.add(key);
        if (seen.has(e.cname)) break; // a loop: the client sees it and gives up
        owner = key = e.cname;
      }
      return { rcode: "NOERROR", answers };
    },
    dump() {
      const out: Record<string, NameRecords> = {};
      for (const [key, e] of entries) {
        const r: NameRecords = {};
        if (e.txt.length) r.txt = [...e.txt];
        if (e.a.length) r.a = [...e.a];
        if (e.aaaa.length) r.aaaa = [...e.aaaa];
        if (e.caa.length) r.caa = e.caa.map((p) => ({ ...p }));
        if (e.cname) r.cname = e.cname;
        if (e.servfail) r.servfail = true;
        out[key] = r;
      }
      return out;
    },
    get size() {
      return entries.size;
    },
  };
}

function isEmpty(e: Entry): boolean {
  return !e.txt.length && !e.a.length && !e.aaaa.length && !e.caa.length && !e.cname && !e.servfail;
}

/** A rough cost in bytes, enough to keep the total bounded. */
function sizeOf(key: string, e: Entry): number {
  let n = 128 + key.length + (e.cname?.length ?? 0);
  for (const v of e.txt) n += 32 + Buffer.byteLength(v);
  for (const p of e.caa) n += 48 + p.tag.length + Buffer.byteLength(p.value);
  return n + 32 * e.a.length + 48 * e.aaaa.length;
}
