// The pools' startup options (src/sa/db/client.ts) are added to, never replace, options a DATABASE_URL
// already carries, and leave every other query parameter exactly as written. Defaults go before the
// URL's own (PostgreSQL applies them in turn: the URL's win), the relaxed pool's own option after.
import { describe, expect, it } from "vitest";
import { withStartupOption } from "../../src/sa/db/client.js";

describe("withStartupOption", () => {
  const opt = "-c synchronous_commit=off";
  it("adds the option to a URL without a query", () => {
    expect(withStartupOption("postgresql://u@h:5432/db", opt)).toEqual({ connectionString: "postgresql://u@h:5432/db", options: opt });
  });
  it("keeps the URL's own options, decoded, before it, and takes them out of the URL", () => {
    expect(withStartupOption("postgresql://u@h/db?sslmode=require&options=-c%20search_path%3Danvil&application_name=a%20b", opt)).toEqual({
      connectionString: "postgresql://u@h/db?sslmode=require&application_name=a%20b",
      options: `-c search_path=anvil ${opt}`,
    });
    expect(withStartupOption("postgresql://u@h/db?options=-c+statement_timeout%3D5000", opt)).toEqual({
      connectionString: "postgresql://u@h/db",
      options: `-c statement_timeout=5000 ${opt}`,
    });
  });
  it("leaves other parameters alone (a socket directory as host)", () => {
    expect(withStartupOption("postgresql:///db?host=/var/run/postgresql", opt)).toEqual({ connectionString: "postgresql:///db?host=/var/run/postgresql", options: opt });
  });
  it("puts defaults first, so that the URL's own setting of the same name wins, and the option last", () => {
    const generic = "-c plan_cache_mode=force_generic_plan";
    expect(withStartupOption("postgresql://u@h/db", "", generic)).toEqual({ connectionString: "postgresql://u@h/db", options: generic });
    expect(withStartupOption("postgresql://u@h/db?options=-c%20plan_cache_mode%3Dauto", opt, generic)).toEqual({
      connectionString: "postgresql://u@h/db",
      options: `${generic} -c plan_cache_mode=auto ${opt}`,
    });
  });
});
