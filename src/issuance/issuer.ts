// The issuer: an intermediate certificate plus its loaded signing key, ready to sign subscriber
// leaves. Keys are parsed and imported once, in loadIssuer; issue() only builds and signs.
import { createHash, verify, X509Certificate as NodeCert, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as x509 from "@peculiar/x509";
import { parseCsr, type ParsedCsr } from "../core/csr.js";
import { derChildren, derContent, derReadWhole, keyInfoFromSpki, type DerTlv } from "../core/keys.js";
import type { Identifier } from "../core/types.js";
import { loadPrivateKey } from "./keys.js";
import { toPem } from "./pem.js";
import { checkPki, pkiPaths } from "./pki.js";
import { leafSignerFor, leafTbs, signTbs, type LeafSigner } from "./leaf-der.js";
import { commonNameOf, keyIdOf } from "./profiles.js";
import { serialProblem } from "./serial.js";

export interface LeafRequest {
  spki: Uint8Array;
  identifiers: Identifier[];
  commonName?: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
}

export interface Issuer {
  readonly id: string;
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly rootDer: Uint8Array;
  readonly intermediateDer: Uint8Array;
  readonly rootSubjectCN: string;
  readonly intermediateSubjectCN: string;
  /** leaves must not outlive their issuer; callers may clamp to this */
  readonly intermediateNotAfter: Date;
  issue(req: LeafRequest): Promise<Uint8Array>;
  /** core/csr's parseCsr, run where this issuer signs (a worker thread for the server) */
  parseCsr(der: Uint8Array): Promise<ParsedCsr>;
  chainPems(leafDer: Uint8Array): string[];
  /** stops a signing worker, if this issuer has one */
  close?(): Promise<void>;
}

const MAX_CN_LENGTH = 64; // ub-common-name, RFC 5280 Appendix A

/** Every constructed element's children fill it exactly, down to the primitive ones (DerError otherwise). */
function walkDer(buf: Uint8Array, t: DerTlv): void {
  if (t.tag & 0x20) for (const child of derChildren(buf, t)) walkDer(buf, child);
}

/** The issuer of the PKI in `dir`, signing on the calling thread, and its key (for a signing worker). */
export async function loadIssuerWithKey(opts: { dir: string; passphrase?: string; now?: Date }): Promise<{ issuer: Issuer; key: KeyObject }> {
  const paths = pkiPaths(opts.dir);
  const read = (file: string) =>
    readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new Error(`no PKI in ${opts.dir}: ${file} is missing (run init or import first)`);
      throw err;
    });
  // One after the other, so a missing PKI is always reported as its missing root.pem.
  const rootPem = await read(paths.rootCert);
  const intermediatePem = await read(paths.intermediateCert);
  const keyPem = await read(paths.intermediateKey);
  const key = loadPrivateKey(keyPem, paths.intermediateKey, opts.passphrase);
  const { rootDer, intermediateDer } = checkPki({
    rootCertPem: rootPem,
    intermediateCertPem: intermediatePem,
    intermediateKey: key,
    now: opts.now ?? new Date(),
  });
  return { issuer: await createIssuer(rootDer, intermediateDer, key), key };
}

/** Builds an Issuer from already validated parts. */
export async function createIssuer(rootDer: Uint8Array, intermediateDer: Uint8Array, key: KeyObject): Promise<Issuer> {
  const root = new x509.X509Certificate(rootDer);
  const intermediate = new x509.X509Certificate(intermediateDer);
  return new PkiIssuer({
    rootDer,
    intermediateDer,
    root,
    intermediate,
    intermediatePublicKey: new NodeCert(intermediateDer).publicKey,
    leafSigner: leafSignerFor(key),
    authorityKeyId: await keyIdOf(intermediate),
  });
}

interface IssuerParts {
  rootDer: Uint8Array;
  intermediateDer: Uint8Array;
  root: x509.X509Certificate;
  intermediate: x509.X509Certificate;
  intermediatePublicKey: KeyObject;
  leafSigner: LeafSigner;
  authorityKeyId: string;
}

class PkiIssuer implements Issuer {
  readonly id: string;
  readonly rootPem: string;
  readonly intermediatePem: string;
  readonly rootDer: Uint8Array;
  readonly intermediateDer: Uint8Array;
  readonly rootSubjectCN: string;
  readonly intermediateSubjectCN: string;
  readonly intermediateNotAfter: Date;
  readonly #parts: IssuerParts;
  // The exact DER of the intermediate's subject, reused as every leaf's issuer name: name chaining
  // compares bytes in strict clients, so it must not be re-encoded from text.
  readonly #issuerNameDer: Uint8Array;
  readonly #authorityKeyId: Uint8Array;

  constructor(parts: IssuerParts) {
    this.#parts = parts;
    this.rootDer = parts.rootDer;
    this.intermediateDer = parts.intermediateDer;
    this.rootPem = toPem(parts.rootDer);
    this.intermediatePem = toPem(parts.intermediateDer);
    this.id = createHash("sha256").update(parts.intermediateDer).digest().subarray(0, 8).toString("hex");
    this.rootSubjectCN = commonNameOf(parts.root.subjectName);
    this.intermediateSubjectCN = commonNameOf(parts.intermediate.subjectName);
    this.intermediateNotAfter = parts.intermediate.notAfter;
    this.#issuerNameDer = new Uint8Array(parts.intermediate.subjectName.toArrayBuffer());
    this.#authorityKeyId = Buffer.from(parts.authorityKeyId, "hex");
  }

  async issue(req: LeafRequest): Promise<Uint8Array> {
    this.#checkRequest(req);
    const key = keyInfoFromSpki(req.spki);
    if (key.type === "unknown") throw new Error(`cannot issue for an unsupported public key (${key.algorithm})`);
    // encoded directly (leaf-der.ts: the library's exact bytes, checked by the unit tests), signed with node:crypto
    const tbs = leafTbs(
      {
        serial: req.serial,
        issuerName: this.#issuerNameDer,
        authorityKeyId: this.#authorityKeyId,
        notBefore: req.notBefore,
        notAfter: req.notAfter,
        commonName: req.commonName,
        spki: req.spki,
        identifiers: req.identifiers,
        rsaKey: key.type === "rsa",
      },
      this.#parts.leafSigner,
    );
    const der = signTbs(tbs, this.#parts.leafSigner);
    this.#checkSigned(der, tbs);
    // a copy in an ArrayBuffer of its own: `der` may sit in Buffer's shared pool, and the signing worker
    // transfers the answer's ArrayBuffer to the request thread
    return new Uint8Array(der);
  }

  parseCsr(der: Uint8Array): Promise<ParsedCsr> {
    return parseCsr(der);
  }

  chainPems(leafDer: Uint8Array): string[] {
    const leaf = toPem(leafDer);
    return [leaf + this.intermediatePem, leaf + this.intermediatePem + this.rootPem];
  }

  #checkRequest(req: LeafRequest): void {
    const serial = serialProblem(req.serial);
    if (serial) throw new Error(`invalid serial "${req.serial}": ${serial}`);
    if (!(req.notBefore.getTime() < req.notAfter.getTime())) throw new Error("notBefore must be before notAfter");
    if (req.notAfter.getTime() > this.intermediateNotAfter.getTime()) {
      throw new Error(
        `notAfter ${req.notAfter.toISOString()} is after the intermediate's notAfter ${this.intermediateNotAfter.toISOString()}`,
      );
    }
    if (req.commonName !== undefined && (req.commonName.length === 0 || req.commonName.length > MAX_CN_LENGTH)) {
      throw new Error(`the common name must be 1 to ${MAX_CN_LENGTH} characters`);
    }
  }

  // Like Boulder's post-signing checks: a certificate we cannot verify ourselves is never handed out. It
  // is read back with our strict DER reader (every length in it consistent, exactly the TBS we built, our
  // algorithm, one signature) and its signature checked with the intermediate certificate's public key,
  // which catches a key that is not the certificate's and a faulty signature. Not parsed by OpenSSL: that
  // costs ~0.14 ms per certificate in OpenSSL 3.0's key decoder, and the TBS's encoding is held to the
  // library's bytes by test/unit/leaf-der.test.ts; the tests parse the leaves they get with OpenSSL.
  #checkSigned(der: Buffer, tbs: Buffer): void {
    const [tbsTlv, alg, bits, ...rest] = derChildren(der, derReadWhole(der, 0x30));
    const signer = this.#parts.leafSigner;
    const signature = bits?.tag === 0x03 ? derContent(der, bits) : undefined;
    if (tbsTlv) walkDer(der, tbsTlv); // throws if a length anywhere in the TBS is wrong
    const ok =
      rest.length === 0 &&
      tbsTlv !== undefined &&
      tbs.equals(der.subarray(tbsTlv.start, tbsTlv.end)) &&
      alg !== undefined &&
      Buffer.from(signer.algorithmDer).equals(der.subarray(alg.start, alg.end)) &&
      signature?.[0] === 0 &&
      verify(signer.hash, tbs, this.#parts.intermediatePublicKey, signature.subarray(1));
    if (!ok) throw new Error("the issued certificate does not verify with the intermediate (key/certificate mismatch?)");
  }
}
