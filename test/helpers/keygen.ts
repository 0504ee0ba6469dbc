// Key pairs for tests, always from the asynchronous generateKeyPair. On Node 20 a key made by
// generateKeyPairSync can hang its process: the synchronous job object is destroyed later by the garbage
// collector, and its destructor takes the key's lock, which `export()` of that key holds while it allocates,
// so a collection that starts inside that export waits forever (bench/csr.ts; seen once in CI).
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";

export const keyPair = promisify(generateKeyPair);
