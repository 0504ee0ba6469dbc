// Cross-instance invalidation on PostgreSQL: every instance LISTENs on one channel; a change to an
// account is announced with pg_notify after it is written, and each instance drops its cached copy.
// The cache may be used only while the listening session is up ("live"): when it breaks, the cache is
// emptied and stays off until the session is back and listening again, so a lost notification can
// never leave a stale account in use.
import type pg from "pg";

export const ACCOUNT_CHANNEL = "anvil_account";

export interface ChangeFeed {
  /** true while notifications are being received */
  live(): boolean;
  /** changes on every notification and every (re)connection: a read that spans a change is not cached */
  epoch(): number;
  /** called with the id of every changed account, and with undefined when everything must go */
  onChange(fn: (id: string | undefined) => void): void;
  /**
   * Resolves when the notification for `id` comes back to this instance (or after `timeoutMs`). The
   * writer waits for its own echo before answering: PostgreSQL signals every listening session at the
   * same commit, so the other instances normally have it by then too (each session's backend forwards it
   * on its own schedule: milliseconds under load, not a guarantee).
   */
  echo(id: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export function listenForChanges(makeClient: () => pg.Client, opts: { retryMs?: number } = {}): ChangeFeed {
  const retryMs = opts.retryMs ?? 1000;
  const listeners: ((id: string | undefined) => void)[] = [];
  let live = false;
  let epoch = 0;
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  const waiting = new Map<string, (() => void)[]>();
  const changed = (id: string | undefined) => {
    epoch++;
    for (const fn of listeners) fn(id);
    if (id !== undefined) {
      for (const resolve of waiting.get(id) ?? []) resolve();
      waiting.delete(id);
    }
  };
  const lost = () => {
    if (live) changed(undefined);
    live = false;
    epoch++;
    const c = client;
    client = undefined;
    c?.removeAllListeners("notification");
    void c?.end().catch(() => {});
    if (!closed && !timer) {
      timer = setTimeout(() => {
        timer = undefined;
        void connect();
      }, retryMs);
      timer.unref();
    }
  };
  async function connect(): Promise<void> {
    if (closed) return;
    const c = makeClient();
    client = c;
    c.on("error", () => lost());
    c.on("end", () => {
      if (client === c) lost();
    });
    c.on("notification", (msg) => {
      if (msg.channel === ACCOUNT_CHANNEL && msg.payload) changed(msg.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${ACCOUNT_CHANNEL}`);
      if (closed || client !== c) return void c.end().catch(() => {});
      changed(undefined); // whatever happened while not listening is unknown: start empty
      live = true;
    } catch {
      if (client === c) lost();
    }
  }
  void connect();

  return {
    live: () => live,
    epoch: () => epoch,
    onChange: (fn) => void listeners.push(fn),
    echo: (id, timeoutMs) =>
      new Promise<void>((resolve) => {
        if (!live) return resolve(); // nobody caches while the feed is down
        const timer = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        const list = waiting.get(id) ?? [];
        list.push(done);
        waiting.set(id, list);
      }),
    async close() {
      closed = true;
      live = false;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
