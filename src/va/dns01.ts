// dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<name> whose value is
// base64url(SHA-256(key authorization)). Any one matching record is enough: a client may have several
// challenges (for a name and its wildcard) in flight at once.
import { problemData } from "../errors/index.js";
import { DnsError } from "./dns.js";
import { keyAuthorizationDigest, preview, type VAContext, withSignal } from "./context.js";
import { dnsProblem } from "./problems.js";
import type { ValidationRequest, ValidationResult } from "./types.js";

const SHOWN = 3;

export async function validateDns01(ctx: VAContext, req: ValidationRequest): Promise<ValidationResult> {
  if (req.identifier.type !== "dns") {
    const detail = "dns-01 cannot validate an IP address identifier (RFC 8738 §7); use http-01 or tls-alpn-01";
    return { records: [], problem: problemData("malformed", detail) };
  }
  const name = `_acme-challenge.${req.identifier.value.toLowerCase()}`;
  const records = [{ hostname: req.identifier.value.toLowerCase(), resolverAddrs: [...ctx.resolver.servers] }];
  let values: string[];
  try {
    const timeout = () => new DnsError(name, "TXT", "timeout", ctx.resolver.servers);
    values = await withSignal(ctx.resolver.lookupTxt(name), ctx.signal, timeout);
  } catch (err) {
    return { records, problem: dnsProblem(err, name, "TXT") };
  }
  const expected = keyAuthorizationDigest(req.keyAuthorization);
  if (values.includes(expected)) return { records };
  if (values.length === 0) {
    return { records, problem: problemData("unauthorized", `No TXT record found at ${name}; expected one with the value "${expected}"`) };
  }
  const shown = values.slice(0, SHOWN).map((v) => preview(v)).join(", ");
  const more = values.length > SHOWN ? ` and ${values.length - SHOWN} more` : "";
  const detail =
    `Found ${values.length} TXT record${values.length === 1 ? "" : "s"} at ${name} but none matches: ` +
    `expected "${expected}", found ${shown}${more}`;
  return { records, problem: problemData("unauthorized", detail) };
}
