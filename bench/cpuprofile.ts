// Summarizes a V8 .cpuprofile (node --cpu-prof): self time by package and by function, and time by
// area (each sample assigned to one area by the frames on its stack).
// `npm run bench -- summarize FILE.cpuprofile [--top N] [--json FILE]`
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { markdownTable, table } from "./stats.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: an npm package, a folder of Anvil's dist/, a Node module, or V8. */
export function packageOf(f: CallFrame): string {
  const url = f.url;
  if (url === "") return f.functionName.startsWith("(") ? f.functionName : "(native/builtin)";
  if (url.startsWith("wasm://")) return "wasm (Prisma query compiler)";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + "/node_modules/".length).split("/");
    return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) {
    const p = dist[1].split("/");
    if (p[0] === "sa" && p[1] === "generated") return "anvil sa/generated (Prisma client)";
    return `anvil ${p.length > 1 ? p[0] : p[0].replace(/\.js$/, "")}`;
  }
  if (url.startsWith("node:")) {
    const m = url.slice(5).replace(/^internal\/(deps\/)?/, "").split("/")[0].replace(/^_/, "").replace(/_.*$/, "");
    return `node:${m}`;
  }
  return url.replace(/^file:\/\//, "").split("/").slice(-2).join("/");
}

type Frame = { f: CallFrame; pkg: string };
const anyFrame = (test: (x: Frame) => boolean) => (stack: Frame[]) => stack.some(test);
const dist = (re: RegExp) => (x: Frame) => re.test(x.f.url.replace(/^.*\/dist\//, ""));
const pkgIs = (re: RegExp) => (x: Frame) => re.test(x.pkg);

/**
 * Each sample goes to the first area whose rule matches its stack (leaf first in the list of frames).
 * The areas sum to 100% of busy time. Async continuations lose their caller (a Prisma query resumed
 * from a microtask has no sa/ frame above it), so areas follow the code that runs, not who asked.
 */
const AREAS: Array<[string, (stack: Frame[]) => boolean]> = [
  ["garbage collector", (st) => st[0].f.functionName === "(garbage collector)"],
  ["JSON.parse / JSON.stringify (builtins)", (st) => st[0].f.url === "" && /^(parse|stringify)$/.test(st[0].f.functionName)],
  ["JWS verification (wfe/jws, jose, crypto below it)", anyFrame((x) => x.pkg === "jose" || dist(/^wfe\/jws\.js$/)(x))],
  ["Prisma query compiler (wasm + its JS glue)", anyFrame((x) => x.pkg.startsWith("wasm") || /query_compiler_bg/.test(x.f.url))],
  ["Prisma driver adapter + driver (better-sqlite3 / pg)", anyFrame(pkgIs(/^@prisma\/adapter-|^better-sqlite3$|^pg(-.+)?$|^postgres-/))],
  ["Prisma client runtime", anyFrame((x) => /^@prisma\//.test(x.pkg) || /generated/.test(x.pkg))],
  ["CSR parsing (core/csr)", anyFrame(dist(/^core\/csr\.js$/))],
  ["certificate signing + X.509 (ca, issuance, @peculiar, pkijs, asn1js)", anyFrame((x) => dist(/^(ca|issuance)\//)(x) || pkgIs(/^@peculiar\/|^pkijs$|^asn1js$|^pvtsutils$|^pvutils$/)(x))],
  ["nonce (issue + redeem)", anyFrame(dist(/^nonce\//))],
  ["validation (va, dns2, outgoing HTTP)", anyFrame((x) => dist(/^va\//)(x) || pkgIs(/^dns2$|^node:dgram$/)(x))],
  ["logging (pino)", anyFrame(pkgIs(/^pino/))],
  ["HTTP + TLS server (fastify, node:http, streams, sockets)", anyFrame(pkgIs(/^fastify$|^find-my-way$|^avvio$|^@fastify\/|^light-my-request$|^node:(http|https|net|tls|streams|stream)$/))],
  ["other Anvil code (ra, wfe routes, views, core)", anyFrame((x) => x.pkg.startsWith("anvil "))],
  ["other (node internals, microtask queue, V8)", () => true],
];

export interface Summary {
  wallMs: number;
  busyMs: number; // all samples except (idle)
  byPackage: Array<{ name: string; ms: number; pct: number }>;
  byArea: Array<{ name: string; ms: number; pct: number }>;
  topFunctions: Array<{ name: string; where: string; ms: number; pct: number; callers: string }>;
}

const frameName = (f: CallFrame) => `${f.functionName || "(anonymous)"}@${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;

/**
 * `windowUs` keeps only samples taken inside [start, end] (µs on the monotonic clock, which V8's
 * profile timestamps and process.hrtime share on Linux), so start-up and shutdown can be left out.
 */
export function summarize(profile: CpuProfile, top = 30, windowUs?: [number, number]): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const pkgOf = new Map(profile.nodes.map((n) => [n.id, packageOf(n.callFrame)]));
  const selfMs = new Map<number, number>();
  // sample i lasts until sample i+1 (as DevTools counts it); the last one gets the mean
  const deltas = profile.timeDeltas;
  const mean = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  let t = profile.startTime;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < profile.samples.length; i++) {
    t += deltas[i];
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) continue;
    first = Math.min(first, t);
    last = Math.max(last, t);
    const us = i + 1 < deltas.length ? deltas[i + 1] : mean;
    selfMs.set(profile.samples[i], (selfMs.get(profile.samples[i]) ?? 0) + us / 1000);
  }
  const areaMs = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of selfMs) {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === "(idle)") continue;
    busy += ms;
    const stack: Frame[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      stack.push({ f: byId.get(cur)!.callFrame, pkg: pkgOf.get(cur)! });
    }
    const area = AREAS.find(([, match]) => match(stack))![0];
    areaMs.set(area, (areaMs.get(area) ?? 0) + ms);
  }
  const pkgMs = new Map<string, number>();
  const fnMs = new Map<string, { where: string; ms: number; callers: Map<string, number> }>();
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === "(idle)") continue;
    const pkg = pkgOf.get(id)!;
    pkgMs.set(pkg, (pkgMs.get(pkg) ?? 0) + ms);
    const where = n.callFrame.url ? `${pkg} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber + 1}` : pkg;
    const key = `${n.callFrame.functionName || "(anonymous)"}|${where}`;
    const e = fnMs.get(key) ?? { where, ms: 0, callers: new Map<string, number>() };
    e.ms += ms;
    // the three frames above, to tell who pays for a shared function (e.g. which caller imports keys)
    const chain: string[] = [];
    for (let c = parent.get(id); c !== undefined && chain.length < 3; c = parent.get(c)) {
      const f = byId.get(c)!.callFrame;
      if (f.functionName !== "(root)") chain.push(frameName(f));
    }
    const ck = chain.join(" < ");
    e.callers.set(ck, (e.callers.get(ck) ?? 0) + ms);
    fnMs.set(key, e);
  }
  const pct = (ms: number) => Math.round((1000 * ms) / busy) / 10;
  const sorted = <T extends { ms: number }>(xs: T[]) => xs.sort((a, b) => b.ms - a.ms);
  return {
    wallMs: Math.round((windowUs ? last - first : profile.endTime - profile.startTime) / 1000),
    busyMs: Math.round(busy),
    byPackage: sorted([...pkgMs].map(([name, ms]) => ({ name, ms: Math.round(ms), pct: pct(ms) }))),
    byArea: AREAS.map(([name]) => ({ name, ms: Math.round(areaMs.get(name) ?? 0), pct: pct(areaMs.get(name) ?? 0) })),
    topFunctions: sorted(
      [...fnMs].map(([k, v]) => {
        const [chain, chainMs] = [...v.callers].sort((a, b) => b[1] - a[1])[0] ?? ["", 0];
        const callers = chain ? `${chain} (${Math.round((100 * chainMs) / v.ms)}%)` : "";
        return { name: k.split("|")[0], where: v.where, ms: Math.round(v.ms), pct: pct(v.ms), callers };
      }),
    ).slice(0, top),
  };
}

export function formatSummary(s: Summary, opts: { markdown?: boolean; packages?: number } = {}): string {
  const t = opts.markdown ? markdownTable : table;
  const out: string[] = [];
  out.push(`busy CPU in the profile: ${s.busyMs} ms of ${s.wallMs} ms wall (main thread; idle excluded)`);
  out.push("", "Self time by package:", "");
  out.push(t(["package", "self ms", "%"], s.byPackage.slice(0, opts.packages ?? 25).map((p) => [p.name, String(p.ms), p.pct.toFixed(1)])));
  out.push("", "Time by area (each sample in exactly one area; % of busy):", "");
  out.push(t(["area", "ms", "%"], s.byArea.map((a) => [a.name, String(a.ms), a.pct.toFixed(1)])));
  out.push("", "Top functions by self time:", "");
  out.push(t(["function", "where", "self ms", "%"], s.topFunctions.map((f) => [f.name, f.where, String(f.ms), f.pct.toFixed(1)])));
  out.push("", "Main caller chain of the top functions (share of the function's self time):", "");
  for (const f of s.topFunctions.slice(0, 12)) out.push(`- ${f.name} (${f.where}): ${f.callers}`);
  return out.join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { top: { type: "string", default: "30" }, json: { type: "string" }, markdown: { type: "boolean" } },
  });
  if (!positionals[0]) throw new Error("usage: npm run bench -- summarize FILE.cpuprofile [--top N] [--json FILE] [--markdown]");
  const s = summarize(JSON.parse(readFileSync(positionals[0], "utf8")) as CpuProfile, Number(values.top));
  console.log(formatSummary(s, { markdown: values.markdown }));
  if (values.json) writeFileSync(values.json, JSON.stringify(s, null, 2));
}
