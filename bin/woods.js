#!/usr/bin/env node
// Entry point of the `woods` CLI: runs the compiled CLI (npm run build) for a fast start.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write("woods: not built yet; run `npm run build` (or `npm start`) first\n");
  process.exit(1);
}
const { main } = await import(compiled.href);
await main(process.argv);
