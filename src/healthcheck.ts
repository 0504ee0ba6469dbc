#!/usr/bin/env node
// `node dist/healthcheck.js`: exits 0 when this machine's Anvil answers GET /readyz (database reachable,
// keys loaded), 1 otherwise. Used by the Docker HEALTHCHECK; reads the same configuration as the server.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import { derived, loadConfig } from "./config/index.js";

const config = loadConfig();
const d = derived(config);
const host = d.host === "0.0.0.0" || d.host === "::" ? "127.0.0.1" : d.host;
const tls = config.tls.enabled;
const req = (tls ? httpsRequest : httpRequest)(
  {
    host,
    port: d.port,
    path: "/readyz",
    method: "GET",
    timeout: 4000,
    ...(tls ? { ca: readFileSync(path.join(d.caDir, "root.pem")), servername: config.hostnames[0] } : {}),
  },
  (res) => {
    res.resume();
    process.exit(res.statusCode === 200 ? 0 : 1);
  },
);
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => {
  console.error(`anvil healthcheck: ${err.message}`);
  process.exit(1);
});
req.end();
