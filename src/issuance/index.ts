// Public API of the issuance part: the CA hierarchy on disk, the issuer that signs leaves, serials and
// Anvil's own HTTPS certificate. Everything else in this folder is internal.
export type { KeySpec } from "./keys.js";
export { pkiPaths, initPki, importPki, checkPki } from "./pki.js";
export type { PkiPaths, InitOptions, ImportOptions } from "./pki.js";
export type { Issuer, LeafRequest } from "./issuer.js";
export { newSerial, serialProblem } from "./serial.js";
export { issueServerCertificate } from "./server-cert.js";
export { toPem, pemBlocks } from "./pem.js";

import { loadIssuerWithKey, type Issuer } from "./issuer.js";
import { inWorker } from "./worker-issuer.js";

/** `worker`: sign (and parse CSRs) in a worker thread, as the server does; otherwise on the calling thread. */
export async function loadIssuer(opts: { dir: string; passphrase?: string; now?: Date; worker?: boolean }): Promise<Issuer> {
  const { issuer, key } = await loadIssuerWithKey(opts);
  return opts.worker ? inWorker(issuer, key) : issuer;
}
