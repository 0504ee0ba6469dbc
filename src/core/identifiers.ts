// Identifier syntax and canonical forms (RFC 8555 §7.1.4, RFC 8738). What Anvil is *willing* to issue
// for is policy (src/policy); this is only what is well-formed.
import { isIP } from "node:net";
import type { Identifier } from "./types.js";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-cased, no trailing dot; IPv6 in RFC 5952 compressed form. */
export function canonicalIdentifier(id: Identifier): Identifier {
  if (id.type === "ip") return { type: "ip", value: canonicalIp(id.value) ?? id.value };
  return { type: id.type, value: id.type === "dns" ? id.value.toLowerCase() : id.value };
}

export function canonicalIp(value: string): string | undefined {
  const family = isIP(value);
  if (family === 4) return value;
  if (family === 6) {
    try {
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    } catch {
      return undefined; // e.g. a zone id (fe80::1%eth0), which no certificate can carry
    }
  }
  return undefined;
}

/** Returns why a DNS name is not well-formed, or undefined when it is. Wildcards: "*." + base only. */
export function dnsNameProblem(name: string): string | undefined {
  if (name.length === 0) return "the name is empty";
  if (name.length > 253) return "the name is longer than 253 characters";
  if (name.endsWith(".")) return "the name ends with a dot";
  const base = name.startsWith("*.") ? name.slice(2) : name;
  if (base.includes("*")) return "a wildcard is allowed only as the whole leftmost label";
  const labels = base.split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) return `"${label}" is not a valid DNS label (letters, digits and inner hyphens, 1 to 63)`;
  }
  if (isIP(base)) return "an IP address must be requested as an identifier of type \"ip\"";
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "the top-level label is all-numeric";
  if (name.startsWith("*.") && labels.length < 2) return "a wildcard needs a base name of at least two labels";
  return undefined;
}

export function identifierKey(id: Identifier): string {
  return `${id.type}:${id.value}`;
}

export function sortIdentifiers(ids: Identifier[]): Identifier[] {
  return [...ids].sort((a, b) => (a.type === b.type ? a.value.localeCompare(b.value) : a.type.localeCompare(b.type)));
}
