// Anvil's own HTTPS certificate, issued by its intermediate so that clients trusting the root trust the
// ACME endpoint too (Pebble does the same with its own CA). A fresh P-256 key every time.
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import type { Identifier } from "../core/types.js";
import type { Issuer } from "./issuer.js";
import { ipToBytes } from "../core/csr.js";
import { spkiOf } from "./keys.js";
import { newSerial } from "./serial.js";

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 86_400_000;
const BACKDATE_MS = 3_600_000; // same clock-skew allowance as the CA certificates

export async function issueServerCertificate(
  issuer: Issuer,
  opts: { hostnames: string[]; days?: number; now?: Date },
): Promise<{ certPem: string; keyPem: string; notAfter: Date }> {
  const identifiers = opts.hostnames.map(hostnameIdentifier);
  if (identifiers.length === 0) throw new Error("the server certificate needs at least one hostname");
  const days = opts.days ?? 90;
  if (!Number.isFinite(days) || days <= 0) throw new Error("days must be a positive number");
  const now = opts.now ?? new Date();
  const notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, issuer.intermediateNotAfter.getTime()));
  const { privateKey } = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
  // A CN helps older tooling display the certificate; only a DNS name short enough for ub-common-name.
  const cn = identifiers.find((id) => id.type === "dns" && id.value.length <= 64)?.value;
  const der = await issuer.issue({
    spki: spkiOf(privateKey),
    identifiers,
    ...(cn ? { commonName: cn } : {}),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    serial: newSerial(),
  });
  return {
    certPem: issuer.chainPems(der)[0]!,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    notAfter,
  };
}

function hostnameIdentifier(hostname: string): Identifier {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (ipToBytes(bare)) return { type: "ip", value: bare };
  const name = bare.toLowerCase().replace(/\.$/, "");
  if (!name) throw new Error(`"${hostname}" is not a hostname`);
  return { type: "dns", value: name };
}
