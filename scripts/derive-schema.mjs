// prisma/schema.prisma (SQLite) is the one data model. The PostgreSQL schema is derived from it:
// only the datasource provider/url and the generator output differ.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const canonical = readFileSync("prisma/schema.prisma", "utf8");
const rules = [
  [/(datasource\s+db\s*\{[^}]*?provider\s*=\s*)"sqlite"/, '$1"postgresql"'],
  [/(datasource\s+db\s*\{[^}]*?url\s*=\s*)"[^"]*"/, '$1"postgresql://unused"'],
  [/(output\s*=\s*)"\.\.\/src\/sa\/generated\/sqlite"/, '$1"../../src/sa/generated/postgres"'],
];
let derived = canonical;
for (const [pattern, replacement] of rules) {
  if (!pattern.test(derived)) throw new Error(`derive-schema: ${pattern} not found in prisma/schema.prisma`);
  derived = derived.replace(pattern, replacement);
}
mkdirSync("prisma/postgres", { recursive: true });
writeFileSync("prisma/postgres/schema.prisma", `// GENERATED from prisma/schema.prisma by scripts/derive-schema.mjs; do not edit\n${derived}`);
