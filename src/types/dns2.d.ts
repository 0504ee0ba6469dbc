// A minimal declaration for dns2 2.1.0 (it ships no types): only what Anvil uses. The package is
// CommonJS (`module.exports = DNS`), so import it as a default import and destructure.
declare module "dns2" {
  import type { EventEmitter } from "node:events";
  import type { Socket as UdpSocket, RemoteInfo } from "node:dgram";
  import type { Server as NetServer, Socket as NetSocket } from "node:net";

  namespace DNS {
    interface Header {
      id: number;
      qr: number;
      opcode: number;
      aa: number;
      tc: number;
      rd: number;
      ra: number;
      z: number;
      rcode: number;
      qdcount: number;
      ancount: number;
      nscount: number;
      arcount: number;
    }

    interface Question {
      name: string;
      type: number;
      class: number;
    }

    /** A decoded or to-be-encoded resource record; which data members are set depends on the type. */
    interface Resource {
      name: string;
      type: number;
      class: number;
      ttl: number;
      address?: string; // A, AAAA
      domain?: string; // CNAME, PTR
      data?: string | Array<string | Buffer> | Buffer; // TXT (decoded: the character-strings concatenated)
      ns?: string;
      exchange?: string;
      priority?: number;
      [member: string]: unknown;
    }

    class Packet {
      constructor(data?: unknown);
      header: Header;
      questions: Question[];
      answers: Resource[];
      authorities: Resource[];
      additionals: Resource[];
      toBuffer(): Buffer;
      static parse(buffer: Buffer): Packet;
      static createResponseFromRequest(request: Packet): Packet;
      static readonly TYPE: Record<
        "A" | "NS" | "CNAME" | "SOA" | "PTR" | "MX" | "TXT" | "AAAA" | "SRV" | "EDNS" | "SPF" | "ANY" | "CAA",
        number
      >;
      static readonly CLASS: Record<"IN" | "CS" | "CH" | "HS" | "ANY", number>;
    }

    /** For UDP the third argument is the sender's RemoteInfo; for TCP it is the client socket. */
    type RequestHandler = (request: Packet, send: (response: Packet) => unknown, client: RemoteInfo | NetSocket) => void;

    interface UDPServer extends UdpSocket {
      listen(port: number, address?: string): Promise<void>;
      on(event: "request", listener: RequestHandler): this;
      on(event: string, listener: (...args: any[]) => void): this;
    }

    interface TCPServer extends NetServer {
      on(event: "request", listener: RequestHandler): this;
      on(event: string, listener: (...args: any[]) => void): this;
    }

    type Query = (name: string, type?: string, cls?: number, opts?: { clientIp?: string; recursive?: boolean }) => Promise<Packet>;
  }

  class DNS extends EventEmitter {
    constructor(options?: Record<string, unknown>);
    static Packet: typeof DNS.Packet;
    static createUDPServer(options?: { type: "udp4" | "udp6" } | DNS.RequestHandler): DNS.UDPServer;
    static createTCPServer(options?: DNS.RequestHandler): DNS.TCPServer;
    static UDPClient(opts?: { dns?: string; port?: number; socketType?: "udp4" | "udp6" }): DNS.Query;
    static TCPClient(opts?: { dns?: string; port?: number }): DNS.Query;
  }

  export = DNS;
}
