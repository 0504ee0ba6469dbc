// A ValidationAuthority whose validations run in a worker thread (worker.ts): the DNS queries, HTTP
// requests and TLS handshakes of validation, and their parsing, leave the request thread. A worker that
// dies fails its pending validations; the RA's validator treats that as a transient internal error and
// retries the job (bounded by maxAttempts).
import { workerChannel, workerEntry } from "../core/worker.js";
import { createAddressPolicy } from "./addresses.js";
import type { VAConfig } from "./context.js";
import type { ResolverOptions } from "./dns.js";
import type { ValidationAuthority } from "./types.js";
import type { VAWorkerData, VAWorkerLog, VAWorkerReply, VAWorkerRequest } from "./worker-protocol.js";

type Logger = { info: Function; warn: Function; isLevelEnabled?: (level: string) => boolean };

export function createVAInWorker(deps: { resolver: ResolverOptions; config: VAConfig; log?: Logger }): ValidationAuthority & { close(): Promise<void> } {
  // a bad configuration (an invalid denyCidrs entry) fails here, at start, as createVA does
  createAddressPolicy({ denyCidrs: deps.config.denyCidrs ?? [], denyPrivate: deps.config.denyPrivate ?? false });
  const enabled = (level: string) => deps.log !== undefined && (deps.log.isLevelEnabled?.(level) ?? true);
  const data: VAWorkerData = { resolver: deps.resolver, config: deps.config, levels: { info: enabled("info"), warn: enabled("warn") } };
  const channel = workerChannel<VAWorkerRequest, VAWorkerReply>(workerEntry(import.meta.url, "worker"), data, {
    name: "validation",
    onMessage: (m) => {
      const line = m as Partial<VAWorkerLog>;
      if (!line.log || !line.obj) return false;
      deps.log?.[line.log](line.obj, line.msg);
      return true;
    },
  });
  return {
    async validate(req) {
      const m = await channel.ask((id) => ({ id, req }));
      if ("error" in m) throw new Error(`validation worker: ${m.error}`);
      return m.result;
    },
    close: () => channel.close(),
  };
}
