// Opening a PostgreSQL client session once the client has logged in to the gateway: the
// session.start record (refused if the audit log cannot take it), the upstream login with the
// target's credential, and the upstream session's search_path; then the relay runs.
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import { auditIdentity } from "../../../gate/gate.ts";
import { encodeErrorResponse } from "../protocol/encode.ts";
import { Session } from "./session.ts";
import { type LoggedIn, type SessionDeps, newSessionId, recordEnd } from "./session-deps.ts";
import { parseSearchPath } from "../sql/name-resolution.ts";
import { UpstreamError, connectUpstream, simpleQuery, type UpstreamConnection } from "./upstream.ts";

/** Runs a logged-in client session to its end. Never throws. */
export async function runSession(client: LoggedIn, remote: string, deps: SessionDeps): Promise<void> {
  const { cfg, gate } = deps;
  const session = newSessionId();
  const identity = client.identity;
  const socket = client.socket;
  const started = performance.now();
  const fatal = (code: string, message: string) => {
    socket.end(encodeErrorResponse({ severity: "FATAL", code, message }));
  };

  try {
    await gate.record({
      type: "session.start",
      session,
      identity: auditIdentity(identity),
      target: cfg.name,
      details: {
        remote,
        tls: client.tls,
        user: client.parameters.get("user") ?? null,
        database: client.parameters.get("database") ?? null,
        parameters: Object.fromEntries(client.upstreamParameters),
      },
    });
  } catch (e) {
    fatal("58030", `audit log unavailable, session refused: ${errorMessage(e)}`);
    return;
  }

  let upstream: UpstreamConnection;
  let searchPath: string[];
  let user: string | undefined;
  let userSchema = true;
  try {
    upstream = await connectUpstream(cfg.upstream, client.upstreamParameters);
    // "$user" in the path names a schema only if one exists with the user's name (usually none).
    const r = await simpleQuery(
      upstream.socket,
      upstream.reader,
      "SELECT pg_catalog.current_setting('search_path'), current_user, EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = current_user)",
    );
    const row = r.rows[0];
    const parsed = row?.[0] != null ? parseSearchPath(row[0]) : null;
    if (parsed === null) throw new GatewayError("E_UPSTREAM", `cannot read the upstream session's search_path (${JSON.stringify(row?.[0] ?? null)})`);
    searchPath = parsed;
    user = row?.[1] ?? undefined;
    userSchema = row?.[2] === "t";
  } catch (e) {
    const code = e instanceof UpstreamError && e.fields.code === "3D000" ? "3D000" : "08001";
    fatal(code, `the gateway cannot open the upstream session: ${errorMessage(e)}`);
    void recordEnd(deps, session, identity, started, { statements: 0, bytes_in: 0, bytes_out: 0, error: errorMessage(e) });
    return;
  }

  await new Session(deps, session, identity, client, upstream, searchPath, user, userSchema, started).run();
}
