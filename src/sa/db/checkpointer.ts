// SQLite's WAL checkpoints, off the request thread. The request thread is SQLite's only writer, and by
// default the commit that takes the WAL past 1,000 pages also copies them into the database file and
// waits for both files' fsyncs: an 11–14 ms stall of every request in flight, about three times a second
// under load (docs/performance.md, session 17). Here a worker thread with a connection of its own runs a
// PASSIVE checkpoint (it takes no lock that a writer or reader waits for) shortly after commits, so the
// pages are copied and synced while the request thread goes on; when the request thread's own automatic
// checkpoint comes round (client.ts sets it to 10,000 pages), little or nothing is left for it to copy. That
// automatic checkpoint is the backstop: run by the only writer, it always catches up, so the WAL stays bounded
// even if this worker falls behind or fails.
import { workerChannel, workerEntry, type WorkerReply } from "../../core/worker.js";

export interface CheckpointRequest {
  id: number;
}

export type CheckpointReply = WorkerReply & { error?: string };

export interface Checkpointer {
  /** a transaction committed: a checkpoint follows within `delayMs` (one at a time) */
  committed(): void;
  close(): Promise<void>;
}

/** `onResult`: after each checkpoint, with the error if it failed */
export function startCheckpointer(file: string, opts: { delayMs?: number; onResult?: (err?: Error) => void } = {}): Checkpointer {
  const delayMs = opts.delayMs ?? 50;
  const channel = workerChannel<CheckpointRequest, CheckpointReply>(workerEntry(import.meta.url, "checkpoint-worker"), { file }, { name: "sqlite-checkpoint" });
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false; // commits while a checkpoint ran: another follows it
  let closed = false;

  const run = () => {
    timer = undefined;
    running = true;
    again = false;
    channel
      .ask((id) => ({ id }))
      .then((r) => opts.onResult?.(r.error === undefined ? undefined : new Error(r.error)))
      .catch((err: Error) => opts.onResult?.(err))
      .finally(() => {
        running = false;
        if (again) schedule();
      });
  };
  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(run, delayMs);
    timer.unref();
  };

  return {
    committed() {
      if (running) again = true;
      else schedule();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await channel.close();
    },
  };
}
