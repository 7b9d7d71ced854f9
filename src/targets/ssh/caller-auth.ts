// Logging a caller in to the gateway's SSH server: a password or keyboard-interactive answer
// that is an OIDC token or a machine key, or a public key of a machine identity. Each refused
// credential gets an auth.rejected record; after MAX_FAILURES the connection is dropped, as
// OpenSSH's MaxAuthTries does, so one connection cannot try tokens without end.
import type { AuthContext, Connection } from "ssh2";
import { errorMessage } from "../../core/errors.ts";
import type { Identity } from "../../core/types.ts";
import type { PublicKeyLookup } from "./public-keys.ts";
import { DISCONNECT_REASON, disconnectWithMessage, sendAuthBanner } from "./ssh-wire.ts";

export const MAX_FAILURES = 6;
const METHODS: ("publickey" | "password" | "keyboard-interactive")[] = ["publickey", "password", "keyboard-interactive"];

export interface Rejection {
  readonly reason: string;
  readonly message: string;
  readonly method: string;
  readonly user: string;
  readonly identity?: Identity;
}

export interface CallerAuthDeps {
  /** Verifies a token or machine key (and refuses one already expired); throws why not. */
  readonly authenticate: (credential: string) => Promise<Identity>;
  readonly authFailureReason: (e: unknown) => string;
  readonly publicKey: PublicKeyLookup;
  /** The upstream account for the caller's SSH user name, or null when the target has none for it. */
  readonly account: (sshUser: string) => string | null;
  /** Writes auth.rejected; rejects when the audit log cannot take it. */
  readonly rejected: (r: Rejection) => Promise<void>;
  /**
   * The caller is who they say: open the session (session.start, the upstream login). Returns
   * null to let them in, or the text the connection is closed with.
   */
  readonly admit: (identity: Identity, sshUser: string, account: string, method: string) => Promise<string | null>;
}

/** Handles every `authentication` event of one connection. */
export function callerAuth(conn: Connection, targetName: string, deps: CallerAuthDeps): (ctx: AuthContext) => void {
  // ssh2 hands over one authentication request at a time (the next waits for this one's answer).
  let failures = 0;
  let done = false;
  /** Public keys the client offered that belong to nobody: recorded once, if nothing else is. */
  let unknownKeys = 0;

  const fail = (ctx: AuthContext, r: Rejection | null) => {
    failures++;
    if (r !== null) authNotice(conn, `gatehouse: login to ${targetName} refused: ${r.message}`);
    const recorded = r === null ? Promise.resolve() : deps.rejected(r);
    void recorded.then(
      () => {
        if (failures >= MAX_FAILURES) {
          done = true;
          disconnectWithMessage(conn, DISCONNECT_REASON.NO_MORE_AUTH_METHODS_AVAILABLE, `gatehouse: too many failed logins to ${targetName} on one connection`);
        } else ctx.reject(METHODS);
      },
      (e) => {
        done = true;
        disconnectWithMessage(conn, DISCONNECT_REASON.BY_APPLICATION, `gatehouse: audit log unavailable, login refused: ${errorMessage(e)}`);
      },
    );
  };

  const admit = async (ctx: AuthContext, identity: Identity, account: string) => {
    const refused = await deps.admit(identity, ctx.username, account, ctx.method).catch((e: unknown) => `gatehouse: the session cannot be opened: ${errorMessage(e)}`);
    if (refused === null) {
      done = true;
      ctx.accept();
    } else {
      done = true;
      disconnectWithMessage(conn, DISCONNECT_REASON.BY_APPLICATION, refused);
    }
  };

  const credential = (ctx: AuthContext, account: string, secret: string) => {
    deps.authenticate(secret).then(
      (identity) => admit(ctx, identity, account),
      (e) => fail(ctx, { reason: deps.authFailureReason(e), message: errorMessage(e), method: ctx.method, user: ctx.username }),
    );
  };

  conn.on("close", () => {
    if (!done && failures === 0 && unknownKeys > 0) {
      void deps.rejected({ reason: "unknown_public_key", message: `none of the ${unknownKeys} public key(s) offered belongs to a machine identity`, method: "publickey", user: "" }).catch(() => {});
    }
  });

  return (ctx) => {
    if (done) return ctx.reject();
    const account = deps.account(ctx.username);
    if (account === null) {
      done = true;
      const message = `no upstream account for SSH user "${ctx.username}" on ${targetName} (the target's users: map does not name it)`;
      void deps.rejected({ reason: "unknown_user", message, method: ctx.method, user: ctx.username }).finally(() =>
        disconnectWithMessage(conn, DISCONNECT_REASON.NO_MORE_AUTH_METHODS_AVAILABLE, `gatehouse: ${message}`),
      );
      return;
    }
    switch (ctx.method) {
      case "password":
        return credential(ctx, account, ctx.password);
      case "keyboard-interactive":
        ctx.prompt([{ prompt: `Token or machine key for ${targetName}: `, echo: false }], "gatehouse", (answers) => {
          const answer = answers[0];
          if (answer === undefined || answer === "") return fail(ctx, { reason: "missing", message: "no token or machine key given", method: ctx.method, user: ctx.username });
          credential(ctx, account, answer);
        });
        return;
      case "publickey": {
        const known = deps.publicKey(ctx.key.data);
        if (known === null) {
          unknownKeys++;
          // OpenSSH offers every key it has; each unknown one is a normal step, not yet a failure.
          return ctx.reject(METHODS);
        }
        // Without a signature the client only asks whether the key would do (ssh2 answers PK_OK on accept).
        if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept();
        if (!known.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
          return fail(ctx, { reason: "signature", message: `public key signature does not verify`, method: ctx.method, user: ctx.username, identity: known.identity });
        }
        void admit(ctx, known.identity, account);
        return;
      }
      case "none":
        return ctx.reject(METHODS);
      default:
        return ctx.reject(METHODS);
    }
  };
}

/** Prints a line during login (e.g. why a token was refused) where the client shows it. */
export function authNotice(conn: Connection, text: string): void {
  try {
    sendAuthBanner(conn, text);
  } catch {
    // Only a courtesy.
  }
}
