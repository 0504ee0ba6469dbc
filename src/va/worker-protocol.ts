// Messages between the validation worker (worker.ts) and the request thread (remote.ts).
import type { VAConfig } from "./context.js";
import type { ResolverOptions } from "./dns.js";
import type { ValidationRequest, ValidationResult } from "./types.js";

export type VAWorkerRequest = { id: number; req: ValidationRequest };
export type VAWorkerReply = { id: number; result: ValidationResult } | { id: number; error: string };
/** a log line for the main thread's logger (only for the levels it has enabled) */
export type VAWorkerLog = { log: "info" | "warn"; obj: object; msg?: string };

export interface VAWorkerData {
  resolver: ResolverOptions;
  config: VAConfig;
  levels: { info: boolean; warn: boolean };
}

