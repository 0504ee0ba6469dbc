// One module for every ACME URL: the routes are registered from these paths and every link in a
// response is built from the configured external base URL (never from the Host header).
export const paths = {
  directory: "/directory",
  newNonce: "/acme/new-nonce",
  newAccount: "/acme/new-account",
  newOrder: "/acme/new-order",
  revokeCert: "/acme/revoke-cert",
  keyChange: "/acme/key-change",
  account: "/acme/acct/:id",
  accountOrders: "/acme/acct/:id/orders",
  order: "/acme/order/:id",
  finalize: "/acme/order/:id/finalize",
  authz: "/acme/authz/:id",
  challenge: "/acme/chall/:id",
  certificate: "/acme/cert/:id",
  certificateAlt: "/acme/cert/:id/:alt",
  root: "/roots/:n",
  intermediate: "/intermediates/:n",
} as const;

export type Linker = ReturnType<typeof createLinker>;

export function createLinker(baseUrl: string) {
  const base = baseUrl.replace(/\/+$/, "");
  const fill = (path: string, params: Record<string, string | number> = {}) =>
    base + path.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(String(params[k])));
  return {
    base,
    /** The absolute URL a request was made to: what its JWS "url" must equal (RFC 8555 §6.4). */
    requestUrl: (rawPath: string) => base + rawPath,
    directory: () => fill(paths.directory),
    newNonce: () => fill(paths.newNonce),
    newAccount: () => fill(paths.newAccount),
    newOrder: () => fill(paths.newOrder),
    revokeCert: () => fill(paths.revokeCert),
    keyChange: () => fill(paths.keyChange),
    account: (id: string) => fill(paths.account, { id }),
    accountOrders: (id: string) => fill(paths.accountOrders, { id }),
    order: (id: string) => fill(paths.order, { id }),
    finalize: (id: string) => fill(paths.finalize, { id }),
    authz: (id: string) => fill(paths.authz, { id }),
    challenge: (id: string) => fill(paths.challenge, { id }),
    certificate: (id: string) => fill(paths.certificate, { id }),
    certificateAlt: (id: string, alt: number) => fill(paths.certificateAlt, { id, alt }),
    root: (n: number) => fill(paths.root, { n }),
    intermediate: (n: number) => fill(paths.intermediate, { n }),
    /** The account id in a kid URL, or undefined when the URL is not one of ours. */
    accountIdFromKid(kid: string): string | undefined {
      const prefix = `${base}/acme/acct/`;
      if (!kid.startsWith(prefix)) return undefined;
      const id = kid.slice(prefix.length);
      return /^[A-Za-z0-9_-]+$/.test(id) ? id : undefined;
    },
  };
}
