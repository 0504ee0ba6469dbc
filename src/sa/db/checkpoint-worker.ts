// The checkpointer's thread (checkpointer.ts): its own connection to the SQLite file, a PASSIVE checkpoint per request.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { CheckpointReply, CheckpointRequest } from "./checkpointer.js";

const { file } = workerData as { file: string };
let db: Database.Database | undefined;

parentPort!.on("message", ({ id }: CheckpointRequest) => {
  let reply: CheckpointReply;
  try {
    db ??= new Database(file, { fileMustExist: true });
    // PASSIVE: copies what no reader still needs, waits for nobody, and never invokes the busy handler
    db.pragma("wal_checkpoint(PASSIVE)");
    reply = { id };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
