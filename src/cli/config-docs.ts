// The few facts commands other than serve need from a configuration (where the audit log is,
// where the admin API listens), read from a file or a folder of files as serve reads them,
// without loading the whole configuration machinery: `gatehouse tail` must start fast.
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { errorMessage, GatewayError } from "../core/errors.ts";

export interface ConfigDoc {
  readonly file: string;
  /** The parsed document; null for an empty file. */
  readonly doc: unknown;
}

/** A file, or a folder's *.yaml/*.yml (not dotfiles, not policy tests *.test.yaml), sorted, as serve lists them. */
export async function readConfigDocs(configPath: string): Promise<ConfigDoc[]> {
  let files: string[];
  try {
    const st = await stat(configPath);
    files = st.isDirectory()
      ? (await readdir(configPath))
          .filter((n) => /\.ya?ml$/.test(n) && !/\.test\.ya?ml$/.test(n) && !n.startsWith("."))
          .sort()
          .map((n) => join(configPath, n))
      : [configPath];
  } catch (e) {
    throw new GatewayError("E_CONFIG_READ", `cannot read configuration: ${configPath}: ${errorMessage(e)}`, { cause: e });
  }
  const docs: ConfigDoc[] = [];
  for (const file of files) {
    try {
      docs.push({ file, doc: parseYaml(await readFile(file, "utf8")) ?? null });
    } catch (e) {
      throw new GatewayError("E_CONFIG_PARSE", `cannot parse configuration: ${file}: ${errorMessage(e)}`, { cause: e });
    }
  }
  return docs;
}

/** audit.path of a configuration, resolved against the folder of the file that sets it. */
export async function auditPathFromConfig(configPath: string): Promise<string> {
  for (const { file, doc } of await readConfigDocs(configPath)) {
    const audit = (doc as { audit?: { path?: unknown } } | null)?.audit;
    if (audit?.path === undefined) continue;
    if (typeof audit.path !== "string" || audit.path === "") {
      throw new GatewayError("E_CONFIG_INVALID", `invalid audit.path in ${file}: expected a file path`);
    }
    return resolve(dirname(file), audit.path);
  }
  throw new GatewayError("E_CONFIG_INVALID", `no audit.path in the configuration: ${configPath}`);
}

/**
 * The base URL of the admin API from gateway.admin.listen. A gateway listening on every
 * address (0.0.0.0, ::) is reached on loopback.
 */
export async function adminUrlFromConfig(configPath: string): Promise<string> {
  for (const { file, doc } of await readConfigDocs(configPath)) {
    const listen = (doc as { gateway?: { admin?: { listen?: unknown } } } | null)?.gateway?.admin?.listen;
    if (listen === undefined) continue;
    const m = typeof listen === "string" ? /^(.*):([0-9]{1,5})$/.exec(listen) : null;
    if (!m) throw new GatewayError("E_CONFIG_INVALID", `invalid gateway.admin.listen in ${file}: expected host:port`);
    let host = m[1]!.replace(/^\[(.*)\]$/, "$1");
    if (host === "" || host === "0.0.0.0") host = "127.0.0.1";
    if (host === "::") host = "::1";
    return `http://${host.includes(":") ? `[${host}]` : host}:${m[2]}`;
  }
  throw new GatewayError("E_CONFIG_INVALID", `no gateway.admin.listen in the configuration ${configPath}: that gateway serves no admin API (add gateway.admin.listen, or pass --admin URL)`);
}
