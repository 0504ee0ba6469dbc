// The validation worker's thread: a whole VA (resolver, address policy, the three validators) doing its
// network I/O and DNS/HTTP/TLS parsing beside the request thread. See remote.ts.
import { parentPort, workerData } from "node:worker_threads";
import { createResolver } from "./dns.js";
import { createVA } from "./index.js";
import type { VAWorkerData, VAWorkerLog, VAWorkerReply, VAWorkerRequest } from "./worker-protocol.js";

const data = workerData as VAWorkerData;
const port = parentPort!;
const line = (level: "info" | "warn") => (obj: object, msg?: string) => {
  if (!data.levels[level]) return;
  const { err, ...rest } = obj as { err?: unknown };
  // an Error crosses as its name, message and stack
  const safe = err instanceof Error ? { ...rest, err: { type: err.name, message: err.message, stack: err.stack } } : obj;
  port.postMessage({ log: level, obj: safe, msg } satisfies VAWorkerLog);
};
const va = createVA({ resolver: createResolver(data.resolver), config: data.config, log: { info: line("info"), warn: line("warn") } });
port.on("message", (m: VAWorkerRequest) => {
  va.validate(m.req).then(
    (result) => port.postMessage({ id: m.id, result } satisfies VAWorkerReply),
    (err: unknown) => port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies VAWorkerReply),
  );
});
