// @prisma/adapter-better-sqlite3 holds ONE connection. Without this wrapper a query from another
// request, issued while an interactive $transaction is open, runs inside that transaction: it sees
// uncommitted rows and is rolled back with them. Here every query outside a transaction waits for it.
import type {
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  Transaction,
} from "@prisma/driver-adapter-utils";

export function createMutex() {
  let tail: Promise<void> = Promise.resolve();
  return async function acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = tail;
    tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  };
}

/** Runs `fn` holding the lock. */
export async function withLock<T>(acquire: ReturnType<typeof createMutex>, fn: () => Promise<T>): Promise<T> {
  const release = await acquire();
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * `acquire` is shared with the hand-written SQL (sql.ts), which runs on the same connection;
 * `onConnect` receives the adapter's better-sqlite3 Database.
 */
export function isolateTransactions(
  factory: SqlDriverAdapterFactory,
  acquire: ReturnType<typeof createMutex>,
  onConnect: (connection: unknown) => void,
): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    async connect(): Promise<SqlDriverAdapter> {
      const inner = await factory.connect();
      onConnect((inner as unknown as { client: unknown }).client);
      const exclusive = <T>(fn: () => Promise<T>): Promise<T> => withLock(acquire, fn);
      return {
        provider: inner.provider,
        adapterName: inner.adapterName,
        queryRaw: (q: SqlQuery) => exclusive(() => inner.queryRaw(q)),
        executeRaw: (q: SqlQuery) => exclusive(() => inner.executeRaw(q)),
        executeScript: (script: string) => exclusive(() => inner.executeScript(script)),
        getConnectionInfo: inner.getConnectionInfo?.bind(inner),
        dispose: () => inner.dispose(),
        async startTransaction(isolationLevel): Promise<Transaction> {
          const release = await acquire(); // held until commit or rollback
          try {
            const tx = await inner.startTransaction(isolationLevel);
            const finish = (fn: () => Promise<void>) => async () => {
              try {
                await fn();
              } finally {
                release();
              }
            };
            return {
              provider: tx.provider,
              adapterName: tx.adapterName,
              options: tx.options,
              queryRaw: (q) => tx.queryRaw(q),
              executeRaw: (q) => tx.executeRaw(q),
              commit: finish(() => tx.commit()),
              rollback: finish(() => tx.rollback()),
            };
          } catch (err) {
            release();
            throw err;
          }
        },
      };
    },
  };
}
