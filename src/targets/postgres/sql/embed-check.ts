// Proof that the parser's WASM travels inside a `bun build --compile` binary: parses SELECT 1
// and prints the statement count. Run the compiled file from a folder with no node_modules.
import { loadSqlParser } from "./sql-parser.ts";

const parser = await loadSqlParser();
const analysis = parser.analyze("SELECT 1", { searchPath: ["public"] });
if (!analysis.ok) {
  console.error(`parse failed: ${analysis.error}`);
  process.exit(1);
}
console.log(`statements: ${analysis.statements.length}`);
