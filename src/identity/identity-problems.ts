// What makes an identity section unusable, found without any I/O: the one list of checks that
// the config loader reports with file:line:column (so check, serve and reload agree) and that
// createAuthenticator applies to what it is handed directly.
import type { KeyPath } from "../config/issue.ts";
import type { IssuerConfig } from "../config/schema.ts";
import { parseDuration } from "../core/duration.ts";
import { algorithmProblem } from "./algorithms.ts";
import { DEV_ISSUER } from "./dev-issuer.ts";
import { issuerUrlProblem } from "./issuer-url.ts";
import { claimPathProblem } from "./claim-path.ts";
import { displayNameProblem } from "./display-name.ts";

export interface IdentityProblem {
  /** Key path inside the identity section, e.g. ["issuers", 0, "algorithms", 1]. */
  readonly path: KeyPath;
  readonly message: string;
}

export function issuerProblems(issuers: readonly IssuerConfig[]): IdentityProblem[] {
  const out: IdentityProblem[] = [];
  const byIss = new Map<string, string>();
  issuers.forEach((issuer, i) => {
    const at = (...rest: (string | number)[]): KeyPath => ["issuers", i, ...rest];
    const add = (path: KeyPath, message: string) => out.push({ path, message: `issuer "${issuer.name}": ${message}` });

    // The token's own `iss` picks the verifier, so one `iss` must mean one configuration.
    const first = byIss.get(issuer.issuer);
    if (first !== undefined) add(at("issuer"), `"${issuer.issuer}" is already the issuer of "${first}"; each iss value may be configured once`);
    else byIss.set(issuer.issuer, issuer.name);
    if (issuer.issuer === DEV_ISSUER) add(at("issuer"), `"${DEV_ISSUER}" is reserved for the dev issuer (identity.dev_issuer)`);

    if (issuer.jwks_uri !== undefined) {
      const problem = issuerUrlProblem(issuer.jwks_uri, "jwks_uri");
      if (problem !== null) add(at("jwks_uri"), problem);
    } else {
      // Without a jwks_uri the keys are found by OpenID discovery at the issuer URL.
      const problem = issuerUrlProblem(issuer.issuer, "issuer");
      if (problem !== null) add(at("issuer"), problem.endsWith("is not a URL") ? `${problem} (give jwks_uri, or the issuer's URL for OpenID discovery)` : problem);
    }

    const audience = issuer.audience;
    if (typeof audience === "string") {
      if (audience.length === 0) add(at("audience"), "audience must not be empty");
    } else {
      audience.forEach((a, j) => {
        if (a.length === 0) add(at("audience", j), "audience must not be empty");
      });
    }

    (issuer.algorithms ?? []).forEach((alg, j) => {
      const problem = algorithmProblem(alg);
      if (problem !== null) add(at("algorithms", j), problem);
    });

    if (issuer.display_name !== undefined) {
      const problem = displayNameProblem(issuer.display_name);
      if (problem !== null) add(at("display_name"), problem);
    }
    (issuer.record_claims ?? []).forEach((path, j) => {
      const problem = claimPathProblem(path);
      if (problem !== null) add(at("record_claims", j), problem);
    });

    if (issuer.clock_skew !== undefined) {
      try {
        parseDuration(issuer.clock_skew);
      } catch {
        add(at("clock_skew"), `clock_skew "${issuer.clock_skew}" is not a duration (e.g. 30s)`);
      }
    }
  });
  return out;
}
