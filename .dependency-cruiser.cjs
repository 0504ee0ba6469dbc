// The dependency arrows of docs/architecture.md, checked in `npm test` (npm run lint).
// A rule names a folder and the folders it must NOT import.
const folder = (name) => `^src/${name}/`;
const only = (from, allowed) => ({
  name: `${from}-imports`,
  comment: `src/${from} may import only: ${allowed.join(", ") || "nothing in src"}`,
  severity: "error",
  from: { path: folder(from) },
  to: {
    path: "^src/",
    pathNot: [folder(from), ...allowed.map(folder), "^src/types/", "^src/sa/generated/"],
  },
});

module.exports = {
  forbidden: [
    only("core", ["errors"]), // CSR/key parsing in core throws AcmeError (badCSR, badPublicKey)
    only("errors", ["core"]), // type-only: errors uses core/types
    only("config", []),
    only("log", []),
    only("policy", ["core", "errors"]),
    only("goodkey", ["core", "errors"]),
    only("nonce", ["core", "errors"]),
    only("ratelimits", ["core", "errors"]),
    only("issuance", ["core", "errors"]),
    only("sa", ["core", "errors"]),
    only("va", ["core", "errors", "log"]),
    only("ca", ["core", "errors", "issuance", "goodkey", "policy", "log"]),
    only("ra", ["core", "errors", "sa", "va", "policy", "goodkey", "ratelimits", "log"]),
    only("wfe", ["core", "errors", "ra", "nonce", "goodkey", "ratelimits", "log", "config"]),
    only("admin", ["core", "errors", "ra", "sa", "nonce", "goodkey", "ratelimits", "log", "config"]),
    only("testdns", ["core", "errors", "log", "config"]),
    {
      name: "prisma-only-in-sa",
      comment: "Prisma and the database drivers are used only by the storage authority",
      severity: "error",
      from: { pathNot: "^src/sa/" },
      to: { path: "node_modules/(@prisma|prisma|pg|better-sqlite3)/" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/sa/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
