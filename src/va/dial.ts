// Getting a TCP connection to a validation target: resolve the name, drop the addresses the policy
// forbids, try IPv6 first and IPv4 when IPv6 does not connect (as Boulder does), and record every
// attempt. Only the connect is tried twice: once a server answers, what it says is the result.
import net from "node:net";
import type { ProblemData, ValidationRecord } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { type VAContext, withSignal } from "./context.js";
import { DnsError } from "./dns.js";
import { ConnectTimeout, describeNetError, dnsProblem, hostPort } from "./problems.js";

export interface DialTarget {
  /** a DNS name or an IP address (no brackets) */
  host: string;
  port: number;
  /** url, hostname and port of the record each attempt adds */
  record: ValidationRecord;
  /** the problem type when every address is refused by policy: rejectedIdentifier when the host is the
   *  identifier itself, connection when a redirect led there */
  deniedType: "rejectedIdentifier" | "connection";
}

export interface Dialed {
  socket?: net.Socket;
  records: ValidationRecord[];
  problem?: ProblemData;
}

export async function dial(ctx: VAContext, target: DialTarget): Promise<Dialed> {
  const found = await addressesOf(ctx, target.host);
  if ("problem" in found) return { records: [{ ...target.record }], problem: found.problem };
  const { resolved, candidates, denied } = found;
  if (candidates.length === 0) {
    const record = { ...target.record, addressesResolved: resolved };
    const detail = net.isIP(target.host)
      ? `This CA does not connect to ${target.host}: it is ${denied[0]?.[1]}`
      : `${target.host} resolves only to addresses that this CA does not connect to: ` +
        denied.map(([ip, reason]) => `${ip} is ${reason}`).join("; ");
    return { records: [record], problem: problemData(target.deniedType, detail) };
  }

  const records: ValidationRecord[] = [];
  const failures: string[] = [];
  for (const [i, address] of candidates.entries()) {
    records.push({ ...target.record, addressesResolved: resolved, addressUsed: address });
    const last = i === candidates.length - 1;
    try {
      const socket = await connect(ctx, address, target.port, last);
      return { socket, records };
    } catch (err) {
      failures.push(`${hostPort(address, target.port)}: ${describeNetError(err)}`);
      if (ctx.signal.aborted) break;
    }
  }
  return { records, problem: problemData("connection", `Error connecting to ${target.host}: ${failures.join("; ")}`) };
}

type Addresses = { resolved: string[]; candidates: string[]; denied: Array<[string, string]> };

async function addressesOf(ctx: VAContext, host: string): Promise<Addresses | { problem: ProblemData }> {
  let v4: string[];
  let v6: string[];
  if (net.isIPv4(host)) [v4, v6] = [[host], []];
  else if (net.isIPv6(host)) [v4, v6] = [[], [host]];
  else {
    try {
      const timeout = () => new DnsError(host, "A/AAAA", "timeout", ctx.resolver.servers);
      ({ v4, v6 } = await withSignal(ctx.resolver.lookupHost(host), ctx.signal, timeout));
    } catch (err) {
      return { problem: dnsProblem(err, host, "A/AAAA") };
    }
    if (v4.length + v6.length === 0) {
      return { problem: problemData("dns", `DNS problem: no valid A or AAAA records found for ${host}`) };
    }
  }
  const denied: Array<[string, string]> = [];
  const allowed = (ips: string[]) =>
    ips.filter((ip) => {
      const why = ctx.policy.check(ip);
      if (why) denied.push([ip, why]);
      return !why;
    });
  const ok6 = allowed(v6);
  const ok4 = allowed(v4);
  const candidates = [ok6[0], ok4[0]].filter((ip): ip is string => ip !== undefined);
  return { resolved: [...v6, ...v4], candidates, denied };
}

/** Connects within the time left; an attempt that is not the last gets half of it, so a silent
 *  IPv6 path still leaves time for IPv4. */
function connect(ctx: VAContext, address: string, port: number, last: boolean): Promise<net.Socket> {
  const left = Math.max(0, ctx.deadline - Date.now());
  const budget = last ? left : Math.floor(left / 2);
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onTimeout = () => fail(new ConnectTimeout());
    const timer = setTimeout(onTimeout, budget);
    const cleanup = () => {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onTimeout);
      socket.removeListener("error", fail);
    };
    ctx.signal.addEventListener("abort", onTimeout, { once: true });
    socket.once("error", fail);
    socket.once("connect", () => {
      cleanup();
      resolve(socket);
    });
  });
}
