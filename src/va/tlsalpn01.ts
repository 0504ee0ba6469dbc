// tls-alpn-01 (RFC 8737; RFC 8738 §6 for IP identifiers): a TLS handshake offering only the ALPN
// protocol "acme-tls/1", with SNI naming the identifier, must present a certificate that names the
// identifier alone and carries the key authorization's digest in a critical acmeIdentifier extension.
// Every check has its own detail: client authors get these certificates wrong in many small ways.
import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import { canonicalIp } from "../core/index.js";
import type { ProblemData, ValidationRecord } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { reverseDnsName, sameIp } from "./addresses.js";
import { DeadlineError, type VAContext } from "./context.js";
import { dial } from "./dial.js";
import { describeNetError, hostPort } from "./problems.js";
import type { ValidationRequest, ValidationResult } from "./types.js";

export const ACME_TLS_ALPN = "acme-tls/1";
export const ID_PE_ACME_IDENTIFIER = "1.3.6.1.5.5.7.1.31";
/** the OID of draft-ietf-acme-tls-alpn-01..04; certificates from old client code still carry it */
const OBSOLETE_ACME_IDENTIFIER = "1.3.6.1.5.5.7.1.30.1";

/** The extnValue RFC 8737 §3 requires: a DER OCTET STRING (04 20) holding SHA-256(key authorization). */
export function acmeIdentifierValue(keyAuthorization: string): Buffer {
  const digest = createHash("sha256").update(keyAuthorization, "utf8").digest();
  return Buffer.concat([Buffer.from([0x04, 0x20]), digest]);
}

export async function validateTlsAlpn01(ctx: VAContext, req: ValidationRequest): Promise<ValidationResult> {
  const isIp = req.identifier.type === "ip";
  const host = isIp ? (canonicalIp(req.identifier.value) ?? req.identifier.value) : req.identifier.value.toLowerCase();
  const sni = isIp ? reverseDnsName(host) : host;
  const port = ctx.config.tlsAlpnPort;
  const record: ValidationRecord = { hostname: host, port: String(port) };
  const dialed = await dial(ctx, { host, port, record, deniedType: "rejectedIdentifier" });
  const records = dialed.records;
  if (!dialed.socket) return { records, problem: dialed.problem };

  const where = hostPort(records.at(-1)?.addressUsed ?? host, port);
  let secure: tls.TLSSocket;
  try {
    secure = await handshake(ctx, dialed.socket, sni);
  } catch (err) {
    dialed.socket.destroy();
    if (err instanceof DeadlineError || ctx.signal.aborted) {
      return { records, problem: problemData("connection", `Timeout during the TLS handshake with ${host} at ${where}`) };
    }
    const detail = `Error in the TLS handshake with ${host} at ${where} (SNI "${sni}", ALPN "${ACME_TLS_ALPN}"): ${describeNetError(err)}`;
    return { records, problem: problemData("tls", detail) };
  }
  try {
    const selected = secure.alpnProtocol;
    if (selected !== ACME_TLS_ALPN) {
      const got = selected ? `selected "${selected}"` : "selected no protocol";
      const detail =
        `The server at ${where} ${got}; for tls-alpn-01 it must negotiate the ALPN protocol "${ACME_TLS_ALPN}" ` +
        `when the client offers it with SNI "${sni}" (RFC 8737 §3)`;
      return { records, problem: problemData("tls", detail) };
    }
    const der = secure.getPeerCertificate()?.raw;
    if (!der?.length) return { records, problem: problemData("tls", `The server at ${where} presented no certificate`) };
    return { records, problem: checkCertificate(der, req.identifier.type, host, req.keyAuthorization, where) };
  } finally {
    // finish the handshake's last flight and say goodbye (close_notify) rather than resetting the
    // connection, which client authors would see as a handshake error; destroy if the peer lingers
    secure.end();
    setTimeout(() => secure.destroy(), 1000).unref();
  }
}

function handshake(ctx: VAContext, socket: net.Socket, servername: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // the certificate is self-signed by design: it is checked below, not against a trust store
    const secure = tls.connect({ socket, servername, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false });
    const abort = () => secure.destroy(new DeadlineError());
    ctx.signal.addEventListener("abort", abort, { once: true });
    secure.once("secureConnect", () => {
      ctx.signal.removeEventListener("abort", abort);
      secure.on("error", () => undefined); // late errors after the handshake do not change the result
      resolve(secure);
    });
    secure.once("error", (err) => {
      ctx.signal.removeEventListener("abort", abort);
      reject(err);
    });
  });
}

/** The certificate checks of RFC 8737 §3; undefined when the certificate proves control. */
export function checkCertificate(
  der: Uint8Array,
  type: "dns" | "ip",
  host: string,
  keyAuthorization: string,
  where: string,
): ProblemData | undefined {
  const bad = (detail: string) => problemData("incorrectResponse", `The certificate presented by ${where} ${detail}`);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (err) {
    return bad(`could not be parsed as X.509: ${err instanceof Error ? err.message : String(err)}`);
  }
  const sanProblem = checkSan(cert, type, host);
  if (sanProblem) return bad(sanProblem);
  const extProblem = checkAcmeIdentifier(cert, keyAuthorization);
  return extProblem ? bad(extProblem) : undefined;
}

function checkSan(cert: x509.X509Certificate, type: "dns" | "ip", host: string): string | undefined {
  const wanted = type === "dns" ? `the dNSName "${host}"` : `the iPAddress ${host}`;
  let names: Array<{ type: string; value: string }>;
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    if (!san) return `has no subjectAltName extension; it must have exactly one name, ${wanted}`;
    names = san.names.items.map((n) => ({ type: n.type, value: n.value }));
  } catch (err) {
    return `has a subjectAltName extension that could not be parsed (${err instanceof Error ? err.message : String(err)})`;
  }
  const listed = names.map((n) => `${n.type}:${JSON.stringify(n.value)}`).join(", ");
  if (names.length !== 1) {
    return `has ${names.length} subjectAltName entries (${listed || "none"}); it must have exactly one, ${wanted}`;
  }
  const only = names[0]!;
  const matches = type === "dns" ? only.type === "dns" && only.value.toLowerCase() === host : only.type === "ip" && sameIp(only.value, host);
  return matches ? undefined : `names ${listed} in its subjectAltName; it must name ${wanted}`;
}

function checkAcmeIdentifier(cert: x509.X509Certificate, keyAuthorization: string): string | undefined {
  const ext = cert.extensions.find((e) => e.type === ID_PE_ACME_IDENTIFIER);
  if (!ext) {
    if (cert.extensions.some((e) => e.type === OBSOLETE_ACME_IDENTIFIER)) {
      return `uses the obsolete draft OID ${OBSOLETE_ACME_IDENTIFIER}; RFC 8737 requires the acmeIdentifier extension ${ID_PE_ACME_IDENTIFIER}`;
    }
    return `has no acmeIdentifier extension (${ID_PE_ACME_IDENTIFIER}, RFC 8737 §3)`;
  }
  if (!ext.critical) return `has an acmeIdentifier extension that is not marked critical; RFC 8737 §3 requires it to be critical`;
  const expected = acmeIdentifierValue(keyAuthorization);
  const got = Buffer.from(ext.value);
  if (got.equals(expected)) return undefined;
  const digest = expected.subarray(2);
  if (got.equals(digest)) {
    return (
      `has an acmeIdentifier extension holding the bare 32-byte digest; its value must be the DER encoding of an ` +
      `OCTET STRING, i.e. 04 20 followed by SHA-256(key authorization)`
    );
  }
  if (got.length === 34 && got[0] === 0x04 && got[1] === 0x20) {
    return (
      `has an acmeIdentifier extension with the wrong digest: got ${got.subarray(2).toString("hex")}, expected ` +
      `SHA-256("${keyAuthorization}") = ${digest.toString("hex")}`
    );
  }
  const shown = got.length > 48 ? `${got.subarray(0, 48).toString("hex")}… (${got.length} bytes)` : got.toString("hex");
  return `has an acmeIdentifier extension whose value (${shown}) is not a DER OCTET STRING of a 32-byte SHA-256 digest`;
}
