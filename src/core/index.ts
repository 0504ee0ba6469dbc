export * from "./types.js";
export * from "./clock.js";
export * from "./jwk.js";
export * from "./identifiers.js";
export * from "./ids.js";
