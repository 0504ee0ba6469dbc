// Accounts (RFC 8555 §7.3): creation, lookup by key, contact updates, deactivation, key rollover.
import { jwkThumbprint, publicJwk } from "../core/jwk.js";
import { newId } from "../core/ids.js";
import type { Account, JsonWebKeyLike } from "../core/types.js";
import { AcmeError, malformed, unauthorized } from "../errors/index.js";
import { audit } from "../log/index.js";
import { createMemoryWindow } from "../ratelimits/index.js";
import { ConflictError } from "../sa/index.js";
import type { RADeps } from "./deps.js";
import { isObject } from "./payload.js";

export function accounts(deps: RADeps) {
  const { sa, clock, log, config } = deps;
  const accountsPerIp = createMemoryWindow("newAccountsPerIp", config.rateLimits.newAccountsPerIp);

  function checkContacts(contact: unknown): string[] {
    if (contact === undefined) return [];
    if (!Array.isArray(contact)) throw malformed('"contact" must be an array of URLs');
    if (contact.length > config.maxContacts) {
      throw new AcmeError("invalidContact", `at most ${config.maxContacts} contacts are accepted`);
    }
    return contact.map((c) => {
      if (typeof c !== "string") throw malformed('"contact" must be an array of strings');
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/.exec(c);
      if (!m) throw new AcmeError("invalidContact", `contact "${c}" is not a URL`);
      const scheme = m[1]!.toLowerCase();
      if (!config.contactSchemes.includes(scheme)) {
        throw new AcmeError("unsupportedContact", `contact scheme "${scheme}:" is not supported; use ${config.contactSchemes.map((s) => `${s}:`).join(", ")}`);
      }
      if (scheme === "mailto") checkMailto(c, m[2]!);
      return c;
    });
  }

  return {
    async newAccount(jwk: JsonWebKeyLike, payload: unknown, clientIp: string): Promise<{ account: Account; created: boolean }> {
      if (!isObject(payload)) throw malformed("the newAccount payload must be a JSON object");
      const keyId = jwkThumbprint(jwk);
      const existing = await sa.getAccountByKeyId(keyId);
      if (existing) {
        if (existing.status !== "valid") throw unauthorized(`the account for this key is ${existing.status}`);
        return { account: existing, created: false };
      }
      if (payload.onlyReturnExisting === true) {
        throw new AcmeError("accountDoesNotExist", "no account exists with the provided key");
      }
      if (payload.termsOfServiceAgreed !== undefined && typeof payload.termsOfServiceAgreed !== "boolean") {
        throw malformed('"termsOfServiceAgreed" must be a boolean');
      }
      if (config.termsOfService && payload.termsOfServiceAgreed !== true) {
        throw malformed(`you must agree to the terms of service (${config.termsOfService}): set "termsOfServiceAgreed": true`);
      }
      if (payload.externalAccountBinding !== undefined) {
        throw malformed("this CA does not use external account binding; omit externalAccountBinding");
      }
      const contact = checkContacts(payload.contact);
      accountsPerIp.hit(clientIp, clock.now());
      const account: Account = {
        id: newId(),
        keyId,
        jwk: publicJwk(jwk),
        contact,
        status: "valid",
        tosAgreed: payload.termsOfServiceAgreed === true,
        createdAt: clock.now(),
      };
      try {
        const created = await sa.createAccount(account);
        audit(log, { event: "account.created", accountId: created.id, contact: created.contact });
        return { account: created, created: true };
      } catch (err) {
        // a concurrent newAccount with the same key won: answer as for an existing account
        if (err instanceof ConflictError && err.existingId) {
          const winner = await sa.getAccount(err.existingId);
          if (winner) return { account: winner, created: false };
        }
        throw err;
      }
    },

    /** POST to the account URL: POST-as-GET (payload undefined), contact update or deactivation. */
    async updateAccount(account: Account, payload: unknown): Promise<Account> {
      if (payload === undefined) return account;
      if (!isObject(payload)) throw malformed("the account update payload must be a JSON object");
      const change: { contact?: string[]; status?: Account["status"] } = {};
      if (payload.status !== undefined) {
        if (payload.status !== "deactivated") throw malformed('the only status a client may set is "deactivated"');
        change.status = "deactivated";
      }
      if (payload.contact !== undefined) change.contact = checkContacts(payload.contact);
      if (change.contact === undefined && change.status === undefined) return account;
      if (!(await sa.updateAccount(account.id, change))) throw unauthorized("the account is no longer valid");
      audit(log, { event: "account.updated", accountId: account.id, ...change });
      return { ...account, ...change };
    },

    /** §7.3.5, after the wfe verified both signatures and the inner JWS's shape. */
    async changeKey(account: Account, oldKey: unknown, newJwk: JsonWebKeyLike): Promise<Account> {
      if (!isObject(oldKey) || typeof oldKey.kty !== "string") throw malformed('"oldKey" must be a JWK');
      let oldKeyId: string;
      try {
        oldKeyId = jwkThumbprint(oldKey as JsonWebKeyLike);
      } catch (err) {
        throw malformed(`"oldKey" is not a valid JWK: ${(err as Error).message}`);
      }
      if (oldKeyId !== account.keyId) throw unauthorized('"oldKey" is not the account\'s current key');
      const newKeyId = jwkThumbprint(newJwk);
      if (newKeyId === account.keyId) throw malformed("the new key is the same as the current key");
      const existing = await sa.getAccountByKeyId(newKeyId);
      if (existing) throw new KeyInUseError(existing.id);
      try {
        if (!(await sa.changeAccountKey(account.id, account.keyId, newKeyId, publicJwk(newJwk)))) {
          throw unauthorized("the account key changed or the account is no longer valid; retry");
        }
      } catch (err) {
        if (err instanceof ConflictError && err.existingId) throw new KeyInUseError(err.existingId);
        throw err;
      }
      audit(log, { event: "account.key-changed", accountId: account.id, oldKeyId: account.keyId, newKeyId });
      return { ...account, keyId: newKeyId, jwk: publicJwk(newJwk) };
    },
  };
}

/** §7.3.5: the new key belongs to another account; the wfe answers 409 with that account's URL. */
export class KeyInUseError extends AcmeError {
  constructor(readonly accountId: string) {
    super("malformed", "the new key is already in use by another account", { status: 409 });
  }
}

// mailto: one plain address, no "hfields" (RFC 6068 headers such as ?subject=), a sane domain.
function checkMailto(contact: string, rest: string): void {
  const bad = (why: string) => new AcmeError("invalidContact", `contact "${contact}": ${why}`);
  if (rest.includes("?")) throw bad("mailto: URLs with header fields are not accepted");
  if (rest.includes(",")) throw bad("one address per mailto: contact");
  let address: string;
  try {
    address = decodeURIComponent(rest);
  } catch {
    throw bad("bad percent-encoding");
  }
  const m = /^([^@\s<>()[\]\\,;:"]+)@([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)$/i.exec(address);
  if (!m || m[1]!.length > 64) throw bad("not a valid e-mail address");
  const domain = m[2]!.toLowerCase();
  if (!domain.includes(".") || domain.split(".").some((l) => l.length === 0 || l.length > 63)) {
    throw bad(`"${domain}" is not a valid mail domain`);
  }
}
