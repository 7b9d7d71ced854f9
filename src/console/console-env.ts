// What every console page shares: who is looking (set by the login middleware on every page
// under the console) and how a page body is wrapped in the common layout. Pages are hono
// sub-apps typed with ConsoleEnv; they escape every value with hono's `html` template (or JSX)
// and check `viewer.roles` themselves before showing or changing anything.
import type { Identity } from "../core/types.ts";

/**
 * view: sessions, recordings, audit search, policy; approve: decide held requests (still only
 * those whose rule names one of the viewer's groups as approvers, never their own); end_sessions:
 * end a live session.
 */
export type ConsoleRole = "view" | "approve" | "end_sessions";

export interface ConsoleViewer {
  readonly identity: Identity;
  readonly roles: ReadonlySet<ConsoleRole>;
  /** The token every state-changing request must carry (form field `_csrf` or header `x-csrf-token`). */
  readonly csrf: string;
}

export type ConsoleEnv = { Variables: { viewer: ConsoleViewer } };

/** Wraps a page's body (already escaped HTML) in the shared layout: navigation, title, viewer. */
export type RenderPage = (viewer: ConsoleViewer, title: string, body: string) => string;
