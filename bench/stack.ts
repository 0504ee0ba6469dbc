// A whole benchmark setup in one call: DNS, the shared http-01 responder, an optional PostgreSQL
// database, and the server (Anvil on SQLite or PostgreSQL, or Pebble). stop() undoes all of it.
import type { BenchDns } from "./dns.js";
import { startResponder, type Responder } from "./flow.js";
import { createPgDatabase, startAnvil, startDns, startPebble, type Server } from "./servers.js";

export type ServerKind = "anvil-sqlite" | "anvil-pg" | "pebble";
export const SERVER_KINDS: ServerKind[] = ["anvil-sqlite", "anvil-pg", "pebble"];

export interface Stack {
  kind: ServerKind;
  server: Server;
  dns: BenchDns;
  responder: Responder;
  databaseUrl?: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  nodeArgs?: string[]; // Anvil only
  env?: Record<string, string>;
  dataDir?: string; // Anvil only: reuse a data dir (e.g. a seeded one)
  pgBase?: string; // admin URL of the PostgreSQL server
}

export async function startStack(kind: ServerKind, o: StackOptions = {}): Promise<Stack> {
  const undo: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const fn of undo.reverse()) await fn().catch((err) => console.error("cleanup:", err));
  };
  try {
    const dns = await startDns();
    undo.push(() => dns.close());
    const responder = await startResponder(0);
    undo.push(() => responder.close());
    let databaseUrl: string | undefined;
    if (kind === "anvil-pg") {
      const db = await createPgDatabase(o.pgBase);
      undo.push(() => db.drop());
      databaseUrl = db.url;
    }
    const server =
      kind === "pebble"
        ? await startPebble({ httpPort: responder.port, dnsServer: dns.address, env: o.env })
        : await startAnvil({
            http01Port: responder.port,
            dnsResolver: dns.address,
            databaseUrl,
            dataDir: o.dataDir,
            nodeArgs: o.nodeArgs,
            env: o.env,
            name: kind,
          });
    undo.push(() => server.stop());
    return { kind, server, dns, responder, databaseUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
