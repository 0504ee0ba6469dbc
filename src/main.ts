#!/usr/bin/env node
// Process entry: `anvil [serve]`, `anvil init [options]`, `anvil migrate`.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildApp, keySpec } from "./app.js";
import { pinHeapGrowth } from "./core/idle.js";
import { ConfigError, derived, loadConfig, type Config } from "./config/index.js";
import { importPki, initPki } from "./issuance/index.js";
import { migrate } from "./sa/index.js";

const HELP = `Usage: anvil [command] [options]

Commands:
  serve (default)   start the ACME server
  init              create (or import) the root and intermediate CA, then exit
  migrate           apply database migrations, then exit

Options:
  -c, --config FILE         YAML or JSON config file (or ANVIL_CONFIG)
  -h, --help                this text

init options:
  --root-key SPEC           ecdsa-p256 | ecdsa-p384 | rsa-2048 | rsa-3072 | rsa-4096 (default ecdsa-p384)
  --intermediate-key SPEC   same choices (default ecdsa-p256)
  --root-subject DN         default "CN=Anvil Root CA,O=Anvil"
  --intermediate-subject DN default "CN=Anvil Intermediate CA,O=Anvil"
  --root-days N             default 3650
  --intermediate-days N     default 1825
  --import-root FILE        bring your own: root certificate (PEM)
  --import-intermediate FILE  intermediate certificate (PEM)
  --import-key FILE         intermediate private key (PKCS#8 PEM, may be encrypted: ANVIL_CA_PASSPHRASE)
  --import-root-key FILE    optional root private key (PKCS#8 PEM)
  --force                   replace an existing CA in the data folder
`;

async function init(config: Config, values: Record<string, string | boolean | undefined>) {
  const { caDir } = derived(config);
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const force = values.force === true;
  if (str("import-root") || str("import-intermediate") || str("import-key")) {
    const [root, intermediate, key] = [str("import-root"), str("import-intermediate"), str("import-key")];
    if (!root || !intermediate || !key) throw new ConfigError("--import-root, --import-intermediate and --import-key go together");
    const paths = await importPki({
      dir: caDir,
      rootCertPem: readFileSync(root, "utf8"),
      intermediateCertPem: readFileSync(intermediate, "utf8"),
      intermediateKeyPem: readFileSync(key, "utf8"),
      rootKeyPem: str("import-root-key") ? readFileSync(str("import-root-key")!, "utf8") : undefined,
      passphrase: config.pki.passphrase,
      force,
    });
    console.log(`Anvil imported the CA into ${caDir}\nAnvil root certificate: ${paths.rootCert}`);
    return;
  }
  const days = (k: string, fallback: number) => {
    const v = str(k);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new ConfigError(`--${k} must be a positive number of days`);
    return Number(v);
  };
  const spec = (k: string, fallback: string) => {
    const v = str(k) ?? fallback;
    if (!/^(ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072|rsa-4096)$/.test(v)) throw new ConfigError(`--${k}: expected ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096, got "${v}"`);
    return keySpec(v);
  };
  const { created, paths } = await initPki({
    dir: caDir,
    rootKey: spec("root-key", config.pki.rootKey),
    intermediateKey: spec("intermediate-key", config.pki.intermediateKey),
    rootSubject: str("root-subject") ?? config.pki.rootSubject,
    intermediateSubject: str("intermediate-subject") ?? config.pki.intermediateSubject,
    rootDays: days("root-days", Math.round(config.pki.rootLifetime / 86400)),
    intermediateDays: days("intermediate-days", Math.round(config.pki.intermediateLifetime / 86400)),
    passphrase: config.pki.passphrase,
    force,
  });
  console.log(created ? `Anvil created a new CA in ${caDir}` : `Anvil found an existing CA in ${caDir} (use --force to replace it)`);
  console.log(`Anvil root certificate: ${paths.rootCert}`);
}

async function serve(config: Config) {
  pinHeapGrowth();
  const anvil = await buildApp(config);
  await anvil.listen();
  console.log(`Anvil directory: ${anvil.directoryUrl}`);
  console.log(`Anvil root certificate: ${anvil.rootPath}`);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    anvil.log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await anvil.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

async function main(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      force: { type: "boolean" },
      "root-key": { type: "string" },
      "intermediate-key": { type: "string" },
      "root-subject": { type: "string" },
      "intermediate-subject": { type: "string" },
      "root-days": { type: "string" },
      "intermediate-days": { type: "string" },
      "import-root": { type: "string" },
      "import-intermediate": { type: "string" },
      "import-key": { type: "string" },
      "import-root-key": { type: "string" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const command = positionals[0] ?? "serve";
  const config = loadConfig({ file: values.config });
  switch (command) {
    case "serve":
      return serve(config);
    case "init":
      return init(config, values);
    case "migrate": {
      const applied = await migrate(derived(config).databaseUrl);
      console.log(applied.length ? `applied: ${applied.join(", ")}` : "the database is up to date");
      return;
    }
    default:
      throw new ConfigError(`unknown command "${command}"\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`anvil: ${(err as Error).message}`);
    process.exit(2);
  }
  console.error("anvil: failed to start:", err);
  process.exit(1);
});


