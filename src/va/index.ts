// The validation authority: one entry point that runs the validator for a challenge type within the
// configured time limit and returns what it saw; failure is data, never an exception.
import type { ProblemData } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { createAddressPolicy } from "./addresses.js";
import { DeadlineError, type VAConfig, type VAContext, withDefaults } from "./context.js";
import { validateDns01 } from "./dns01.js";
import { validateHttp01 } from "./http01.js";
import { validateTlsAlpn01 } from "./tlsalpn01.js";
import type { Resolver, ValidationAuthority, ValidationRequest, ValidationResult } from "./types.js";

export * from "./types.js";
export type { VAConfig } from "./context.js";
export { keyAuthorizationDigest } from "./context.js";
export { createResolver, DnsError, type ResolverOptions } from "./dns.js";
export { createVAInWorker } from "./remote.js";
export { createAddressPolicy, reverseDnsName, type AddressPolicy } from "./addresses.js";
export { acmeIdentifierValue, ACME_TLS_ALPN, ID_PE_ACME_IDENTIFIER } from "./tlsalpn01.js";

type Validator = (ctx: VAContext, req: ValidationRequest) => Promise<ValidationResult>;

const VALIDATORS: Record<ValidationRequest["type"], Validator> = {
  "http-01": validateHttp01,
  "dns-01": validateDns01,
  "tls-alpn-01": validateTlsAlpn01,
};

export interface VADeps {
  resolver: Resolver;
  config: VAConfig;
  log?: { info: Function; warn: Function };
}

/** Throws only for a bad configuration (an invalid denyCidrs entry), so it fails at start. */
export function createVA(deps: VADeps): ValidationAuthority {
  const config = withDefaults(deps.config);
  const policy = createAddressPolicy({ denyCidrs: config.denyCidrs, denyPrivate: config.denyPrivate });

  async function validate(req: ValidationRequest): Promise<ValidationResult> {
    const validator = VALIDATORS[req.type];
    if (!validator) return { records: [], problem: problemData("malformed", `unknown challenge type "${String(req.type)}"`) };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DeadlineError()), config.timeoutMs);
    const ctx: VAContext = {
      resolver: deps.resolver,
      config,
      policy,
      signal: controller.signal,
      deadline: Date.now() + config.timeoutMs,
    };
    try {
      return await validator(ctx, req);
    } catch (err) {
      // a bug, not a verdict on the client's setup: say so without internals
      deps.log?.warn({ err, type: req.type, identifier: req.identifier }, "validation failed unexpectedly");
      return { records: [], problem: internalProblem() };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async validate(req) {
      const result = await validate(req);
      const outcome = result.problem ? { valid: false, problem: result.problem.type, detail: result.problem.detail } : { valid: true };
      deps.log?.info({ type: req.type, identifier: req.identifier, records: result.records, ...outcome }, "validation");
      return result;
    },
  };
}

function internalProblem(): ProblemData {
  return problemData("serverInternal", "the validation could not be completed because of an internal error");
}
