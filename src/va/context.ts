// What every validator receives: the resolver, the configuration with defaults filled in, the address
// policy and the signal that ends the attempt when its overall time is up.
import { createHash } from "node:crypto";
import type { AddressPolicy } from "./addresses.js";
import type { Resolver } from "./types.js";

export interface VAConfig {
  httpPort: number; // 80
  tlsAlpnPort: number; // 443
  timeoutMs: number; // 10000, for a whole validation
  maxRedirects?: number; // 10
  maxBodyBytes?: number; // 16384
  denyCidrs?: string[];
  denyPrivate?: boolean; // false
}

export type ResolvedVAConfig = Required<VAConfig>;

export function withDefaults(config: VAConfig): ResolvedVAConfig {
  return {
    httpPort: config.httpPort ?? 80,
    tlsAlpnPort: config.tlsAlpnPort ?? 443,
    timeoutMs: config.timeoutMs ?? 10_000,
    maxRedirects: config.maxRedirects ?? 10,
    maxBodyBytes: config.maxBodyBytes ?? 16_384,
    denyCidrs: config.denyCidrs ?? [],
    denyPrivate: config.denyPrivate ?? false,
  };
}

export interface VAContext {
  resolver: Resolver;
  config: ResolvedVAConfig;
  policy: AddressPolicy;
  /** aborted when the validation's time is up; every wait must give up then */
  signal: AbortSignal;
  /** when the validation's time is up, in Date.now() milliseconds */
  deadline: number;
}

/** Thrown (internally) when the overall deadline passes. */
export class DeadlineError extends Error {
  constructor() {
    super("the validation took longer than its time limit");
    this.name = "DeadlineError";
  }
}

/** Settles like `p`, or rejects with `onAbort()` as soon as `signal` aborts. */
export function withSignal<T>(p: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener("abort", abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(e);
      },
    );
  });
}

/** RFC 8555 §8.4: the TXT value for dns-01, base64url(SHA-256(key authorization)). */
export function keyAuthorizationDigest(keyAuthorization: string): string {
  return createHash("sha256").update(keyAuthorization, "utf8").digest("base64url");
}

/** A received value for a problem detail: quoted, escaped, cut to `max` characters. */
export function preview(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut) + (value.length > max ? ` (${value.length} characters)` : "");
}
