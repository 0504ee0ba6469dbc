// Requests that Node's HTTP parser refuses (bytes that are not HTTP/1.1, a Content-Length that is not a number,
// header fields over the limit, a client too slow to send its request) never reach a route or Fastify's error
// handler. Fastify's default answers them with a JSON body of its own; this answers with the RFC 8555 §6.7
// problem document every other error gets, with the headers every ACME response carries, then closes the
// connection, whose stream can no longer be framed.
import http from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";

interface ParserError extends Error {
  code?: string;
  /** llhttp's own words, e.g. "Invalid method encountered" */
  reason?: string;
}

function describe(err: ParserError): { status: number; detail: string } {
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return { status: 408, detail: "the request did not arrive in time" };
  if (err.code === "HPE_HEADER_OVERFLOW") return { status: 431, detail: "the request's header fields are too large" };
  return { status: 400, detail: `the request is not valid HTTP/1.1: ${err.reason ?? err.message}` };
}

/** Fastify's `clientErrorHandler` option (called with the Fastify instance as `this`). */
export function createClientErrorHandler(deps: { issueNonce(): string; directoryUrl: string }) {
  return function clientErrorHandler(this: { log: FastifyBaseLogger }, err: ParserError, socket: Socket): void {
    // a reset connection has nobody left to answer
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const { status, detail } = describe(err);
    this.log.debug({ err: { code: err.code, message: err.message } }, "request refused by the HTTP parser");
    if (socket.writable) {
      const body = JSON.stringify({ type: "urn:ietf:params:acme:error:malformed", detail, status });
      socket.write(
        [
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
          "Content-Type: application/problem+json",
          `Content-Length: ${Buffer.byteLength(body)}`,
          `Replay-Nonce: ${deps.issueNonce()}`,
          `Link: <${deps.directoryUrl}>;rel="index"`,
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
