// No Docker engine runs here, so this test runs what the Dockerfile and docker-compose.yml run, natively:
// the build stage's commands in a clean copy of the files the Dockerfile copies, the runtime stage's files
// only, the CMD with the image's and compose's environment (the compose database replaced by a fresh local
// PostgreSQL database), the HEALTHCHECK command, one ACME client, and a graceful stop.
import { exec as execCallback, spawn } from "node:child_process";
import { promisify } from "node:util";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ENV_VARS, loadConfig, splitHostPort } from "../../src/config/index.js";
import { TestAcme } from "../helpers/acme.js";
import { REPO_ROOT } from "../helpers/anvil-process.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { freePort, makeTempDir, removeTempDir } from "../helpers/tools.js";

// async on purpose: a synchronous child process would block this test worker for minutes
const exec = promisify(execCallback);

interface Stage { from: string; copies: { from?: string; src: string[]; dest: string }[]; runs: string[]; env: Record<string, string>; cmd?: string[]; healthcheck?: string[]; workdir?: string }

/** A small Dockerfile reader: enough for our own file (one instruction per logical line). */
function readDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  for (const line of lines) {
    const [op, ...restParts] = line.split(/\s+/);
    const rest = restParts.join(" ");
    const stage = stages[stages.length - 1]!;
    switch (op!.toUpperCase()) {
      case "FROM": stages.push({ from: rest, copies: [], runs: [], env: {} }); break;
      case "RUN": stage.runs.push(rest); break;
      case "WORKDIR": stage.workdir = rest; break;
      case "CMD": stage.cmd = JSON.parse(rest); break;
      case "HEALTHCHECK": stage.healthcheck = JSON.parse(rest.slice(rest.indexOf("CMD") + 3).trim()); break;
      case "ENV": for (const m of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[m[1]!] = m[2]!; break;
      case "COPY": {
        const from = /--from=(\S+)/.exec(rest)?.[1];
        const parts = rest.replace(/--\S+/g, "").trim().split(/\s+/);
        stage.copies.push({ from, src: parts.slice(0, -1), dest: parts[parts.length - 1]! });
        break;
      }
    }
  }
  return stages;
}

const dockerfile = readDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
const compose = parse(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8"));
const anvilService = compose.services.anvil;
const runtime = dockerfile[dockerfile.length - 1]!;

describe("docker-compose.yml names only what Anvil reads", () => {
  const anvilServices = Object.entries(compose.services as Record<string, any>).filter(([, s]) => s.build === ".");

  it("every environment variable of every Anvil service is one Anvil reads, and its value is valid", () => {
    expect(anvilServices.map(([n]) => n)).toEqual(["anvil", "anvil-staging"]);
    for (const [, service] of anvilServices) {
      for (const name of Object.keys(service.environment)) {
        expect(name === "ANVIL_CONFIG" || name in ENV_VARS, `${name} is not read by Anvil`).toBe(true);
      }
      expect(() => loadConfig({ env: service.environment })).not.toThrow();
    }
  });

  it("each Anvil service publishes its listen port and keeps its data folder on a volume", () => {
    for (const [, service] of anvilServices) {
      const env = service.environment;
      const [, listenPort] = splitHostPort(env.ANVIL_LISTEN);
      const published = service.ports.map((p: string) => p.replace(/\/(tcp|udp)$/, "").split(":").pop());
      expect(published).toContain(listenPort);
      expect(service.volumes.map((v: string) => v.split(":")[1])).toContain(env.ANVIL_DATA_DIR);
      expect(Object.keys(compose.volumes)).toContain(service.volumes[0].split(":")[0]);
      expect(service.healthcheck.test.slice(1)).toEqual(runtime.healthcheck);
      if (env.ANVIL_TESTDNS === "true") {
        for (const key of ["ANVIL_TESTDNS_LISTEN", "ANVIL_TESTDNS_API"]) expect(published).toContain(splitHostPort(env[key])[1]);
      }
    }
  });

  it("ports, volume and database agree with the environment and the postgres service", () => {
    const env = anvilService.environment;
    const [, listenPort] = splitHostPort(env.ANVIL_LISTEN);
    expect(anvilService.ports.map((p: string) => p.split(":").pop())).toContain(listenPort);
    expect(anvilService.volumes.map((v: string) => v.split(":")[1])).toContain(env.ANVIL_DATA_DIR);
    expect(runtime.env.ANVIL_DATA_DIR).toBe(env.ANVIL_DATA_DIR);
    const db = new URL(env.DATABASE_URL);
    const pgEnv = compose.services.postgres.environment;
    expect(db.hostname).toBe("postgres");
    expect([db.username, db.password, db.pathname.slice(1)]).toEqual([pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, pgEnv.POSTGRES_DB]);
    expect(anvilService.depends_on.postgres.condition).toBe("service_healthy");
    expect(compose.services.postgres.healthcheck.test.join(" ")).toMatch(/pg_isready/);
    expect(anvilService.healthcheck.test.slice(1)).toEqual(runtime.healthcheck);
  });

  it("the runtime image runs as a non-root user on Node 20 slim", () => {
    const text = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
    expect(text).toMatch(/^USER node$/m);
    for (const s of dockerfile) expect(s.from).toMatch(/^node:20-[a-z]+-slim/);
  });
});

describe("the Dockerfile's commands, natively", () => {
  let build: string;
  let image: string;
  let db: TestDatabase;

  beforeAll(async () => {
    build = await makeTempDir("docker-build");
    image = await makeTempDir("docker-image");
    db = await createTestDatabase("postgres"); // as docker-compose.yml: PostgreSQL
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDir(build);
    await removeTempDir(image);
  });

  it("build stage, runtime stage, CMD with compose's environment, HEALTHCHECK, a client, SIGTERM", async () => {
    const buildStage = dockerfile[0]!;
    for (const c of buildStage.copies) {
      for (const src of c.src) cpSync(join(REPO_ROOT, src), join(build, c.dest === "./" ? src : c.dest), { recursive: true, filter: (f) => !f.includes("/generated/") });
    }
    for (const run of buildStage.runs) {
      if (run.startsWith("apt-get")) continue; // the machine has python3, make and g++ already (.ci/run)
      await exec(run, { cwd: build, env: { ...process.env, npm_config_loglevel: "error" }, maxBuffer: 64 * 1024 * 1024 });
    }
    for (const c of runtime.copies) {
      for (const src of c.src) {
        const from = c.from ? join(build, src.replace(/^\/app\//, "")) : join(REPO_ROOT, src);
        const dest = join(image, c.dest.replace(/^\.\//, ""));
        mkdirSync(join(dest, ".."), { recursive: true });
        cpSync(from, dest, { recursive: true });
      }
    }
    expect(existsSync(join(image, "dist", "main.js"))).toBe(true);
    expect(existsSync(join(image, "node_modules", "vitest"))).toBe(false); // dev dependencies pruned

    const port = await freePort();
    const dataDir = join(image, "data");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      ...runtime.env,
      ...anvilService.environment,
      ANVIL_DATA_DIR: dataDir,
      ANVIL_LISTEN: `127.0.0.1:${port}`,
      ANVIL_BASE_URL: `https://localhost:${port}`,
      DATABASE_URL: db.url!,
    };
    const child = spawn(runtime.cmd![0]!, runtime.cmd!.slice(1), { cwd: image, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    try {
      const deadline = Date.now() + 60_000;
      let healthy = false;
      while (!healthy && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          await exec(runtime.healthcheck!.join(" "), { cwd: image, env });
          healthy = true;
        } catch { /* not yet */ }
      }
      expect(healthy, out).toBe(true);
      const root = readFileSync(join(dataDir, "ca", "root.pem"), "utf8");
      const client = await TestAcme.create(`https://localhost:${port}/directory`, { ca: root });
      expect((await client.newAccount()).status).toBe(201);
    } finally {
      child.kill("SIGTERM");
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(code, out).toBe(0);
    }
  }, 600_000);
});
