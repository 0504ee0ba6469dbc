// `npm run bench -- sign`: the signing worker's work for one certificate, on one thread and without the
// rest of the server: parse and check the CSR (core/csr.ts), then build, sign and check the leaf
// (issuance/issuer.ts), with the intermediate of ca-keys.example (or --pki DIR).
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { parseCsr, type ParsedCsr } from "../src/core/csr.js";
import { loadIssuerWithKey } from "../src/issuance/issuer.js";
import { makeCsr } from "./csr.js";

const HELP = `Usage: npm run bench -- sign [--certs 2000] [--pki ca-keys.example]
Times parseCsr then issue (the signing worker's work per certificate) on the calling thread, on fresh
CSRs and keys, and prints microseconds of wall and CPU time per certificate.`;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { certs: { type: "string", default: "2000" }, pki: { type: "string", default: "ca-keys.example" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return void console.log(HELP);
  const n = Number(values.certs);
  const { issuer } = await loadIssuerWithKey({ dir: values.pki! });
  const warm = 200;
  const csrs: Buffer[] = [];
  for (let i = 0; i < n + warm; i++) csrs.push((await makeCsr([`n${i}.bench.test`])).der);
  const parsed: ParsedCsr[] = [];
  const issue = (i: number) =>
    issuer.issue({
      spki: parsed[i]!.spki,
      identifiers: [{ type: "dns", value: `n${i}.bench.test` }],
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 90 * 86_400_000),
      serial: "7f" + randomBytes(15).toString("hex"),
    });
  // warm-up on certificates of their own, then fresh CSRs and keys (as in a server: a CSR's key is decoded
  // by parseCsr and remembered for issue)
  for (let i = n; i < n + warm; i++) {
    parsed[i] = await parseCsr(csrs[i]!);
    await issue(i);
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    parsed[i] = await parseCsr(csrs[i]!);
    await issue(i);
  }
  const wall = ((performance.now() - t0) * 1000) / n;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${n} certificates, intermediate ${issuer.intermediateSubjectCN}, node ${process.version}, OpenSSL ${process.versions.openssl}`);
  console.log(`parseCsr + issue: ${wall.toFixed(1)} µs wall, ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per certificate`);
}
