// Requests that Node's HTTP parser refuses (bytes that are not HTTP/1.1, a Content-Length that is not a number,
// header fields over the limit, a client too slow to send its request) never reach a route or Fastify's error
// handler. Fastify's default answers them with a JSON body of its own; this answers with the RFC 8555 §6.7
// problem document every other error gets, with the headers every ACME response carries, then closes the
// connection, whose stream can no longer be framed.
import http from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { malformed } from "../errors/index.js";
import { link } from "./context.js";

interface ParserError extends Error {
  code?: string;
  /** llhttp's own words, e.g. "Invalid method encountered" */
  reason?: string;
}

function describe(err: ParserError) {
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return malformed("the request did not arrive in time", { status: 408 });
  if (err.code === "HPE_HEADER_OVERFLOW") return malformed("the request's header fields are too large", { status: 431 });
  return malformed(`the request is not valid HTTP/1.1: ${err.reason ?? err.message}`);
}

/** Fastify's `clientErrorHandler` option (called with the Fastify instance as `this`). */
export function createClientErrorHandler(deps: { issueNonce(): string; directoryUrl: string }) {
  return function clientErrorHandler(this: { log: FastifyBaseLogger }, err: ParserError, socket: Socket): void {
    // a reset connection has nobody left to answer
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const problem = describe(err);
    this.log.debug({ err: { code: err.code, message: err.message } }, "request refused by the HTTP parser");
    if (socket.writable) {
      const body = JSON.stringify(problem.toData());
      socket.write(
        [
          `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status]}`,
          "Content-Type: application/problem+json",
          `Content-Length: ${Buffer.byteLength(body)}`,
          `Replay-Nonce: ${deps.issueNonce()}`,
          `Link: ${link(deps.directoryUrl, "index")}`,
          "Cache-Control: no-store",
          "Connection: close",
          "",
          body,
        ].join("\r\n"),
      );
    }
    // as Node and Fastify do: what follows on this connection cannot be framed
    socket.destroy(err);
  };
}
