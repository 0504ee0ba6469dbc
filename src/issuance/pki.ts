// The CA hierarchy on disk: generate a root and an intermediate on first start (initPki), or take an
// operator's own pair (importPki), and the checks both share with loadIssuer (checkPki).
import { randomBytes, X509Certificate as NodeCert, type KeyObject } from "node:crypto";
import { access, chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { generateKey, loadPrivateKey, privateKeyPem, signerFor, spkiOf, x509Crypto, type KeySpec } from "./keys.js";
import { singleCertDer, toPem } from "./pem.js";
import { intermediateExtensions, keyIdOf, rootExtensions, subjectFromString } from "./profiles.js";
import { newSerial } from "./serial.js";

export interface PkiPaths {
  dir: string;
  rootCert: string;
  rootKey: string;
  intermediateCert: string;
  intermediateKey: string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    rootCert: join(dir, "root.pem"),
    rootKey: join(dir, "root.key"),
    intermediateCert: join(dir, "intermediate.pem"),
    intermediateKey: join(dir, "intermediate.key"),
  };
}

export interface InitOptions {
  dir: string;
  rootKey?: KeySpec;
  intermediateKey?: KeySpec;
  rootSubject?: string;
  intermediateSubject?: string;
  rootDays?: number;
  intermediateDays?: number;
  passphrase?: string;
  force?: boolean;
  now?: Date;
}

const DAY_MS = 86_400_000;
// CA certificates start an hour in the past so clients with a slightly slow clock accept them at once.
const CA_BACKDATE_MS = 3_600_000;

export async function initPki(opts: InitOptions): Promise<{ created: boolean; paths: PkiPaths }> {
  const paths = pkiPaths(opts.dir);
  if (!opts.force && (await exists(paths.rootCert))) {
    for (const file of [paths.intermediateCert, paths.intermediateKey]) {
      if (!(await exists(file))) throw new Error(`incomplete PKI in ${opts.dir}: ${file} is missing (use force to regenerate)`);
    }
    return { created: false, paths };
  }
  const rootDays = positiveDays(opts.rootDays ?? 3650, "rootDays");
  const intermediateDays = positiveDays(opts.intermediateDays ?? 1825, "intermediateDays");
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - CA_BACKDATE_MS);
  const [rootKey, intermediateKey] = await Promise.all([
    generateKey(opts.rootKey ?? { type: "ecdsa", curve: "P-384" }),
    generateKey(opts.intermediateKey ?? { type: "ecdsa", curve: "P-256" }),
  ]);

  const rootSigner = await signerFor(rootKey, "root key");
  const rootSpki = spkiOf(rootKey);
  const rootName = subjectFromString(opts.rootSubject ?? "CN=Anvil Root CA,O=Anvil");
  const root = await x509.X509CertificateGenerator.create(
    {
      serialNumber: newSerial(),
      subject: rootName,
      issuer: rootName,
      notBefore,
      notAfter: new Date(now.getTime() + rootDays * DAY_MS),
      publicKey: rootSpki,
      signingKey: rootSigner.key,
      signingAlgorithm: rootSigner.algorithm,
      extensions: await rootExtensions(rootSpki),
    },
    x509Crypto,
  );

  const intermediateSpki = spkiOf(intermediateKey);
  const intermediateNotAfter = Math.min(now.getTime() + intermediateDays * DAY_MS, root.notAfter.getTime());
  const intermediate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: newSerial(),
      subject: subjectFromString(opts.intermediateSubject ?? "CN=Anvil Intermediate CA,O=Anvil"),
      issuer: new x509.Name(root.subjectName.toArrayBuffer()),
      notBefore,
      notAfter: new Date(intermediateNotAfter),
      publicKey: intermediateSpki,
      signingKey: rootSigner.key,
      signingAlgorithm: rootSigner.algorithm,
      extensions: await intermediateExtensions(intermediateSpki, await keyIdOf(root)),
    },
    x509Crypto,
  );

  await writePki(paths, {
    rootCertPem: toPem(new Uint8Array(root.rawData)),
    intermediateCertPem: toPem(new Uint8Array(intermediate.rawData)),
    intermediateKeyPem: privateKeyPem(intermediateKey, opts.passphrase),
    rootKeyPem: privateKeyPem(rootKey, opts.passphrase),
  });
  return { created: true, paths };
}

export interface ImportOptions {
  dir: string;
  rootCertPem: string;
  intermediateCertPem: string;
  intermediateKeyPem: string;
  rootKeyPem?: string;
  /** decrypts the given keys if they are encrypted, and encrypts the written copies */
  passphrase?: string;
  force?: boolean;
  now?: Date;
}

/** Bring your own root and intermediate: checked, then written in Anvil's layout. */
export async function importPki(opts: ImportOptions): Promise<PkiPaths> {
  const paths = pkiPaths(opts.dir);
  if (!opts.force && (await exists(paths.rootCert))) {
    throw new Error(`${opts.dir} already holds a PKI (${paths.rootCert} exists); pass force to replace it`);
  }
  const intermediateKey = loadPrivateKey(opts.intermediateKeyPem, "the intermediate key", opts.passphrase);
  const rootKey = opts.rootKeyPem ? loadPrivateKey(opts.rootKeyPem, "the root key", opts.passphrase) : undefined;
  const { rootDer, intermediateDer } = checkPki({
    rootCertPem: opts.rootCertPem,
    intermediateCertPem: opts.intermediateCertPem,
    intermediateKey,
    rootKey,
    now: opts.now ?? new Date(),
  });
  await signerFor(intermediateKey, "the intermediate key");
  await writePki(paths, {
    rootCertPem: toPem(rootDer),
    intermediateCertPem: toPem(intermediateDer),
    intermediateKeyPem: privateKeyPem(intermediateKey, opts.passphrase),
    rootKeyPem: rootKey ? privateKeyPem(rootKey, opts.passphrase) : undefined,
  });
  return paths;
}

export interface PkiParts {
  rootCertPem: string;
  intermediateCertPem: string;
  intermediateKey: KeyObject;
  rootKey?: KeyObject;
  now: Date;
}

/** Throws an Error that says what is wrong unless the pair forms a usable issuing hierarchy. */
export function checkPki(parts: PkiParts): { rootDer: Uint8Array; intermediateDer: Uint8Array } {
  const rootDer = singleCertDer(parts.rootCertPem, "root certificate");
  const intermediateDer = singleCertDer(parts.intermediateCertPem, "intermediate certificate");
  const root = parseCert(rootDer, "root certificate");
  const inter = parseCert(intermediateDer, "intermediate certificate");

  if (!root.node.ca) throw new Error("the root certificate is not a CA certificate (basicConstraints CA:TRUE missing)");
  if (!root.node.checkIssued(root.node) || !root.node.verify(root.node.publicKey)) {
    throw new Error("the root certificate is not self-signed");
  }
  if (!inter.node.ca) throw new Error("the intermediate certificate is not a CA certificate (basicConstraints CA:TRUE missing)");
  if (!inter.node.checkIssued(root.node) || !inter.node.verify(root.node.publicKey)) {
    throw new Error("the intermediate certificate is not signed by the root certificate");
  }
  const usage = inter.x.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new Error("the intermediate certificate's keyUsage does not allow keyCertSign");
  }
  checkValidity(root.x, "root", parts.now);
  checkValidity(inter.x, "intermediate", parts.now);
  if (!sameKey(spkiOf(parts.intermediateKey), inter.node)) {
    throw new Error("the intermediate key does not match the intermediate certificate");
  }
  if (parts.rootKey && !sameKey(spkiOf(parts.rootKey), root.node)) {
    throw new Error("the root key does not match the root certificate");
  }
  return { rootDer, intermediateDer };
}

function parseCert(der: Uint8Array, what: string): { node: NodeCert; x: x509.X509Certificate } {
  try {
    return { node: new NodeCert(der), x: new x509.X509Certificate(der) };
  } catch (err) {
    throw new Error(`${what}: not a valid X.509 certificate`, { cause: err });
  }
}

function checkValidity(cert: x509.X509Certificate, what: string, now: Date): void {
  if (now < cert.notBefore) throw new Error(`the ${what} certificate is not valid before ${cert.notBefore.toISOString()}`);
  if (now > cert.notAfter) throw new Error(`the ${what} certificate expired on ${cert.notAfter.toISOString()}`);
}

function sameKey(spki: Uint8Array, cert: NodeCert): boolean {
  return Buffer.from(spki).equals(cert.publicKey.export({ type: "spki", format: "der" }));
}

function positiveDays(days: number, name: string): number {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`${name} must be a positive number of days`);
  return days;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

interface PkiFiles {
  rootCertPem: string;
  intermediateCertPem: string;
  intermediateKeyPem: string;
  rootKeyPem?: string;
}

// root.pem is written last: its presence is what "a PKI exists here" means, so a crash part-way
// leaves a directory that the next start regenerates rather than half-reuses.
async function writePki(paths: PkiPaths, files: PkiFiles): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await rm(paths.rootCert, { force: true });
  await writeAtomic(paths.intermediateKey, files.intermediateKeyPem, 0o600);
  if (files.rootKeyPem) await writeAtomic(paths.rootKey, files.rootKeyPem, 0o600);
  else await rm(paths.rootKey, { force: true }); // a stale root key would not match the new root
  await writeAtomic(paths.intermediateCert, files.intermediateCertPem, 0o644);
  await writeAtomic(paths.rootCert, files.rootCertPem, 0o644);
}

async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data, { mode, flag: "wx" });
    await chmod(tmp, mode); // the umask may have narrowed a certificate's mode; keys stay 0600 either way
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
