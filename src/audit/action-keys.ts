// Audit records name their keys in snake_case, like the configuration and the admin API; the
// request facts in memory are TypeScript's camelCase (core/types.ts). These are the facts' keys
// that differ, renamed wherever facts become a record's action (gate/gate.ts) or leave the
// gateway otherwise (approval webhooks). Readers of logs written before accept both spellings.
const SNAKE_CASE: ReadonlyMap<string, string> = new Map([
  ["userFunctions", "user_functions"], // postgres, mcp sql
  ["apiGroup", "api_group"], // kubernetes
  ["apiVersion", "api_version"], // kubernetes
  ["patchType", "patch_type"], // kubernetes
  ["toPath", "to_path"], // ssh sftp rename and link
]);

/**
 * The facts with their keys as records spell them: the same object when no key differs (the
 * common case costs no copy), else a copy with the keys renamed. Idempotent.
 */
export function snakeCaseFacts(facts: object): Record<string, unknown> {
  const f = facts as Record<string, unknown>;
  let differs = false;
  for (const key in f) {
    if (SNAKE_CASE.has(key)) {
      differs = true;
      break;
    }
  }
  if (!differs) return f;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(f)) {
    const value = f[key];
    if (value !== undefined) out[SNAKE_CASE.get(key) ?? key] = value;
  }
  return out;
}
