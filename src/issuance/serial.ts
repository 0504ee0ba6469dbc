// Certificate serial numbers. CA/B BR §7.1 asks for at least 64 bits from a CSPRNG; we use 128. A fixed
// 0x01 first byte makes the hex string *be* the DER INTEGER content: always positive, never zero, no
// leading zero to strip and no 0x00 pad to add, so the serial stored is byte-for-byte the one signed.
import { randomBytes } from "../core/random.js";

export function newSerial(): string {
  return "01" + randomBytes(16).toString("hex");
}

/**
 * Why `serial` is not a canonical serial (lower-case hex of a positive DER INTEGER's content, 1..20
 * octets per RFC 5280 §4.1.2.2), or undefined when it is.
 */
export function serialProblem(serial: string): string | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(serial)) return "it must be lower-case hex with an even number of digits";
  if (serial.length > 40) return "it is longer than 20 octets";
  const first = parseInt(serial.slice(0, 2), 16);
  if (first >= 0x80) return "its first byte has the high bit set (a negative INTEGER)";
  if (first === 0 && (serial.length === 2 || parseInt(serial.slice(2, 4), 16) < 0x80)) {
    return "it has a leading zero byte or is zero";
  }
  return undefined;
}
