// The audit records of one session, for any target (PostgreSQL, HTTP, SSH, Kubernetes): what is
// fixed for the session (its id, identity and target) is serialised and checked once, and a
// template per record type, decision and policy hash once, so that each record on the hot path
// only serialises its action and details (src/audit/record-template.ts). Where a session is one
// request (HTTP), the session id is a varying member instead: one SessionRecords per identity
// and target serves every request of that identity (sessionPerRecord).
import { RecordFragment, RecordTemplate, type VaryingMember } from "../audit/record-template.ts";
import { GatewayError } from "../core/errors.ts";
import type { Effect, RecordClaims } from "../core/types.ts";

export interface SessionRecordFields {
  readonly session?: string;
  /** As audit records hold it: `claims` are the issuer's record_claims (never the whole token). */
  readonly identity: {
    readonly method: string;
    readonly subject: string;
    readonly issuer: string;
    readonly groups: readonly string[];
    readonly name?: string;
    readonly claims?: RecordClaims;
  };
  readonly target: string;
}

/** An identity as the gate holds it (core Identity): `claims` the whole verified payload, `recordClaims` what records carry. */
export interface CallerIdentity {
  readonly method: string;
  readonly subject: string;
  readonly issuer: string;
  readonly groups: readonly string[];
  readonly name?: string;
  readonly recordClaims?: RecordClaims;
  readonly claims?: Readonly<Record<string, unknown>>;
}

export interface RecordDecision {
  readonly effect: Effect;
  readonly rule: string | null;
  readonly message?: string;
}

/** More distinct templates than this (messages that carry a statement's text, say) start the cache afresh. */
const MAX_TEMPLATES = 256;

export interface SessionRecordOptions {
  /**
   * The session id is given per record (RecordValues.session), not fixed: for a target whose
   * session is one request. `fields.session` must then be left out.
   */
  readonly sessionPerRecord?: boolean;
}

export class SessionRecords {
  readonly fields: SessionRecordFields;
  readonly sessionPerRecord: boolean;
  readonly #fragment: RecordFragment;
  readonly #varying: readonly VaryingMember[];
  readonly #templates = new Map<string, RecordTemplate>();

  constructor(fields: SessionRecordFields, opts: SessionRecordOptions = {}) {
    this.sessionPerRecord = opts.sessionPerRecord === true;
    if (this.sessionPerRecord && fields.session !== undefined) throw new GatewayError("E_INTERNAL", "SessionRecords: a session fixed and given per record");
    // A copy of the groups: the records must not change when the caller's array does.
    this.fields = { ...fields, identity: { ...fields.identity, groups: [...fields.identity.groups] } };
    this.#fragment = new RecordFragment(this.fields);
    this.#varying = this.sessionPerRecord ? ["action", "details", "session"] : ["action", "details"];
  }

  /**
   * Whether a record of this session, identity and target is what these templates hold (any
   * session, or none, when the session is given per record: the record then carries `session`).
   */
  matches(session: string | undefined, identity: CallerIdentity, target: string): boolean {
    const f = this.fields;
    const i = f.identity;
    if ((!this.sessionPerRecord && session !== f.session) || target !== f.target || identity.subject !== i.subject || identity.method !== i.method || identity.issuer !== i.issuer) return false;
    if (identity.name !== i.name) return false;
    if (identity.groups.length !== i.groups.length) return false;
    for (let k = 0; k < i.groups.length; k++) if (identity.groups[k] !== i.groups[k]) return false;
    const rc = identity.recordClaims;
    if (rc !== i.claims && (rc === undefined || i.claims === undefined || JSON.stringify(rc) !== JSON.stringify(i.claims))) return false;
    return true;
  }

  /**
   * The template of a `type` record of this session with this decision and policy hash; its
   * action and details vary per record. Throws E_AUDIT_WRITE for a decision the schema refuses.
   */
  template(type: string, decision?: RecordDecision, policy?: string): RecordTemplate {
    // The hot path asks for the same few templates over and over: the last one of each type is
    // found by comparing what it holds, field by field (exact, as the key below is).
    const last = this.#last.get(type);
    if (last !== undefined && last.policy === policy && (decision === undefined ? last.effect === undefined : last.effect === decision.effect && last.rule === decision.rule && last.message === decision.message)) {
      return last.template;
    }
    const t = this.#templateByKey(type, decision, policy);
    this.#last.set(type, { policy, effect: decision?.effect, rule: decision?.rule, message: decision?.message, template: t });
    return t;
  }

  /** The last template given per record type, with what it holds. */
  readonly #last = new Map<string, { policy: string | undefined; effect: Effect | undefined; rule: string | null | undefined; message: string | undefined; template: RecordTemplate }>();

  #templateByKey(type: string, decision?: RecordDecision, policy?: string): RecordTemplate {
    // Exact, never weaker than what the template holds: a wrong hit would write a wrong record.
    const key = JSON.stringify([type, policy, decision?.effect, decision?.rule, decision?.message]);
    let t = this.#templates.get(key);
    if (t === undefined) {
      const shape: Record<string, unknown> = { type };
      if (decision !== undefined) shape["decision"] = { effect: decision.effect, rule: decision.rule, message: decision.message };
      if (policy !== undefined) shape["policy"] = policy;
      t = new RecordTemplate([this.#fragment, shape], this.#varying);
      if (this.#templates.size >= MAX_TEMPLATES) this.#templates.clear();
      this.#templates.set(key, t);
    }
    return t;
  }
}

/** Identities whose templates are kept, per target; past this the least recently added goes. */
const MAX_IDENTITIES = 1024;

/**
 * The templates of each identity on a target whose session is one request (sessionPerRecord):
 * built once per identity and kept (bounded), not per request. The identity object an
 * authenticator hands back again is found without building a key; any other by its fields.
 */
export class RecordsByIdentity {
  readonly #byObject = new WeakMap<object, SessionRecords>();
  readonly #byKey = new Map<string, SessionRecords>();

  constructor(
    readonly target: string,
    readonly max = MAX_IDENTITIES,
  ) {}

  get size(): number {
    return this.#byKey.size;
  }

  /** This identity's templates (its fields copied when they were built: matches() rechecks them). */
  for(identity: CallerIdentity): SessionRecords {
    const seen = this.#byObject.get(identity);
    if (seen !== undefined && seen.matches(undefined, identity, this.target)) return seen;
    // The whole claims too: what is kept per SessionRecords (the HTTP known routes) may depend on any claim a rule names.
    const key = JSON.stringify([identity.method, identity.issuer, identity.subject, identity.groups, identity.name ?? null, identity.claims ?? null]);
    let records = this.#byKey.get(key);
    if (records === undefined) {
      const fields: SessionRecordFields["identity"] = {
        method: identity.method,
        subject: identity.subject,
        issuer: identity.issuer,
        groups: identity.groups,
        ...(identity.name !== undefined ? { name: identity.name } : {}),
        ...(identity.recordClaims !== undefined ? { claims: identity.recordClaims } : {}),
      };
      records = new SessionRecords({ identity: fields, target: this.target }, { sessionPerRecord: true });
      if (this.#byKey.size >= this.max) this.#byKey.delete(this.#byKey.keys().next().value!);
      this.#byKey.set(key, records);
    }
    this.#byObject.set(identity, records);
    return records;
  }
}
