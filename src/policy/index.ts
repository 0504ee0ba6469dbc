// Which identifiers Anvil is willing to issue for, and which challenges it offers for each
// (Boulder's policy authority). Well-formedness lives in core/identifiers; this is the operator's say.
import { canonicalIp, dnsNameProblem } from "../core/identifiers.js";
import type { ChallengeType, Identifier } from "../core/types.js";
import { AcmeError } from "../errors/index.js";

export interface PolicyConfig {
  allowedDomains: string[];
  deniedDomains: string[];
  allowIpIdentifiers: boolean;
  allowWildcards: boolean;
}

const under = (name: string, suffix: string) => {
  const s = suffix.toLowerCase().replace(/^\*?\.?/, "");
  return name === s || name.endsWith(`.${s}`);
};

export interface Policy {
  /** Throws rejectedIdentifier / unsupportedIdentifier / malformed with the identifier attached. */
  checkIdentifier(id: Identifier): void;
  challengeTypes(id: Identifier, wildcard: boolean): ChallengeType[];
}

export function createPolicy(cfg: PolicyConfig): Policy {
  return {
    checkIdentifier(id) {
      const reject = (type: "rejectedIdentifier" | "unsupportedIdentifier" | "malformed", why: string) =>
        new AcmeError(type, `${id.type} identifier "${id.value}": ${why}`, { identifier: id });
      if (id.type === "ip") {
        if (!cfg.allowIpIdentifiers) throw reject("rejectedIdentifier", "IP address identifiers are not accepted by this CA");
        if (canonicalIp(id.value) !== id.value) throw reject("malformed", "not an IPv4 or IPv6 address in canonical text form");
        return;
      }
      if (id.type !== "dns") throw reject("unsupportedIdentifier", 'only "dns" and "ip" identifiers are supported');
      const problem = dnsNameProblem(id.value);
      if (problem) throw reject("rejectedIdentifier", problem);
      const base = id.value.replace(/^\*\./, "");
      if (id.value.startsWith("*.") && !cfg.allowWildcards) throw reject("rejectedIdentifier", "wildcard names are not accepted by this CA");
      if (cfg.deniedDomains.some((d) => under(base, d))) throw reject("rejectedIdentifier", "the name is on this CA's deny list");
      if (cfg.allowedDomains.length > 0 && !cfg.allowedDomains.some((d) => under(base, d))) {
        throw reject("rejectedIdentifier", `this CA only issues for names under ${cfg.allowedDomains.join(", ")}`);
      }
    },
    challengeTypes(id, wildcard) {
      if (id.type === "ip") return ["http-01", "tls-alpn-01"]; // RFC 8738 §7: no dns-01 for IPs
      if (wildcard) return ["dns-01"]; // RFC 8555 §7.1.3: a wildcard needs dns-01
      return ["http-01", "dns-01", "tls-alpn-01"];
    },
  };
}
