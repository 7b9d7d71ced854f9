// The format of policy test files (`*.test.yaml`): cases of identity, target, time and request
// with the decision expected.
import { Type, type Static } from "@sinclair/typebox";

const strict = { additionalProperties: false } as const;
const Strings = Type.Array(Type.String());

export const TestIdentity = Type.Object(
  {
    sub: Type.String({ minLength: 1 }),
    groups: Type.Optional(Strings),
    issuer: Type.Optional(Type.String({ minLength: 1 })),
    method: Type.Optional(Type.Union([Type.Literal("oidc"), Type.Literal("machine-key"), Type.Literal("dev")])),
    claims: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Unknown(), {
        description:
          "The token's verified claims, as the payload has them (nested maps such as kubernetes.io: { namespace: ops } included), or by path (kubernetes.io.namespace: ops). Absent: the caller has none, as a machine key.",
      }),
    ),
  },
  strict,
);

export const TestRequest = Type.Object(
  {
    http: Type.Optional(Type.Object({ method: Type.String({ minLength: 1 }), path: Type.String() }, strict)),
    postgres: Type.Optional(
      Type.Object(
        {
          classes: Type.Optional(Strings),
          tables: Type.Optional(Strings),
          functions: Type.Optional(Strings),
          sql: Type.Optional(Type.String({ minLength: 1, description: "Needs an SQL analyzer; otherwise use classes/tables." })),
        },
        strict,
      ),
    ),
    kubernetes: Type.Optional(
      Type.Object(
        {
          request: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'A raw request as kubectl sends it, "METHOD /path?query" (e.g. "DELETE /api/v1/namespaces/production"), classified as the gateway classifies it; instead of verb and resource.',
            }),
          ),
          content_type: Type.Optional(Type.String({ description: "With request: the Content-Type (a PATCH needs one, e.g. application/merge-patch+json)." })),
          verb: Type.Optional(Type.String({ minLength: 1 })),
          resource: Type.Optional(Type.String({ minLength: 1, description: "RBAC style: pods, pods/exec, deployments.apps." })),
          namespace: Type.Optional(Type.String()),
          name: Type.Optional(Type.String()),
          command: Type.Optional(Type.Array(Type.String(), { description: "pods/exec: the command argv (command= parameters)." })),
        },
        strict,
      ),
    ),
    mcp: Type.Optional(
      Type.Object(
        {
          server: Type.String({ minLength: 1, description: "The upstream server's name in the target." }),
          method: Type.Optional(Type.String({ minLength: 1, description: "The JSON-RPC method; default tools/call with tool, prompts/get with prompt, resources/read with resource." })),
          direction: Type.Optional(Type.Union([Type.Literal("client"), Type.Literal("server")], { description: "server for a request from the server to the agent (default: server for sampling/createMessage, elicitation/create, roots/list)." })),
          tool: Type.Optional(Type.String({ description: "tools/call: the tool's name exactly as sent." })),
          prompt: Type.Optional(Type.String()),
          resource: Type.Optional(Type.String({ description: "resources/read: the URI." })),
          arguments: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The call's arguments." })),
          input_schema: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The tool's pinned input schema, as the runtime has it from the server." })),
          sql: Type.Optional(
            Type.Union([
              Type.String({ minLength: 1, description: "The SQL argument, classified as the MCP target classifies a SQL tool's argument (a refusal is a deny)." }),
              Type.Object({ classes: Strings, tables: Type.Optional(Strings), functions: Type.Optional(Strings) }, strict),
            ]),
          ),
        },
        strict,
      ),
    ),
    ssh: Type.Optional(
      Type.Object(
        {
          user: Type.String({ minLength: 1, description: "The upstream account (the SSH user name given)." }),
          action: Type.Union(["shell", "exec", "sftp", "forward"].map((c) => Type.Literal(c))),
          command: Type.Optional(Type.String({ description: "exec: the command line exactly as the client sends it." })),
          operation: Type.Optional(Type.Union(["read", "write", "remove", "rename", "mkdir", "list", "setstat"].map((o) => Type.Literal(o)))),
          path: Type.Optional(Type.String({ description: "sftp: the normalised absolute path." })),
          to_path: Type.Optional(Type.String({ description: "sftp rename: the new path." })),
          destination: Type.Optional(Type.String({ description: "forward: host:port." })),
          line: Type.Optional(Type.String({ description: "shell: a line submitted with Enter." })),
        },
        strict,
      ),
    ),
  },
  strict,
);

export const TestMasks = Type.Object(
  { json: Type.Optional(Strings), columns: Type.Optional(Strings), detectors: Type.Optional(Strings) },
  strict,
);

export const TestExpect = Type.Object(
  {
    effect: Type.Union([Type.Literal("allow"), Type.Literal("deny"), Type.Literal("review")]),
    rule: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "The deciding rule; null for the default deny." })),
    masks: Type.Optional(TestMasks),
    message: Type.Optional(Type.String()),
    approvers: Type.Optional(Strings),
  },
  strict,
);

export const TestCase = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    identity: TestIdentity,
    target: Type.String({ minLength: 1 }),
    at: Type.Optional(
      Type.String({
        pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$",
        description: "An ISO 8601 time with its zone, e.g. 2026-03-02T10:00:00Z.",
      }),
    ),
    request: TestRequest,
    expect: TestExpect,
  },
  strict,
);

export const PolicyTestFile = Type.Object({ cases: Type.Array(TestCase, { minItems: 1 }) }, strict);

export type TestCase = Static<typeof TestCase>;
export type PolicyTestFile = Static<typeof PolicyTestFile>;
