// The `mcp:` section of a rule (issue #15), apart from schema.ts so the MCP target's own config
// and this can be merged without touching the same lines. src/policy/matchers/mcp.ts reads it.
import { Type } from "@sinclair/typebox";

const strict = { additionalProperties: false } as const;
const NonEmpty = Type.String({ minLength: 1 });
const List = (description: string) => Type.Array(NonEmpty, { minItems: 1, description });
const OneOrMore = (description: string) => Type.Union([NonEmpty, Type.Array(NonEmpty, { minItems: 1 })], { description });

/** Conditions on one argument's value; every one stated must hold (see matchers/mcp-arguments.ts). */
export const McpArgumentCondition = Type.Object(
  {
    glob: Type.Optional(OneOrMore('Globs over a string value (* and ? anything but "/", ** anything); any may match.')),
    regex: Type.Optional(OneOrMore("Regular expressions over a string value, anchored at both ends; any may match.")),
    min: Type.Optional(Type.Number({ description: "The value must be a number at least this." })),
    max: Type.Optional(Type.Number({ description: "The value must be a number at most this." })),
    under: Type.Optional(
      OneOrMore(
        'Absolute folders: the value must be an absolute path that stays under one of them after normalisation (".." and "." resolved). A path with a NUL or control character, a backslash, a percent-escape, a leading ~, or that is relative, cannot be read: allow rules refuse it, deny and review rules match it. Symbolic links are the server\'s to resolve: keep its own roots (server-filesystem\'s allowed directories) as the last line.',
      ),
    ),
    hosts: Type.Optional(
      List(
        'URL host allow-list: the value must be an http(s) or ws(s) URL whose host (after WHATWG URL parsing: IDN to punycode, IPv4 forms to dotted) is one of these; "*.example.com" for any subdomain. A URL with user info, a backslash, a percent-escape or whitespace in its authority cannot be read.',
      ),
    ),
    one_of: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]), { minItems: 1, description: "The value must equal one of these." })),
    optional: Type.Optional(Type.Boolean({ description: "An allow rule also holds when the argument is absent (default false: it must be present)." })),
  },
  {
    ...strict,
    minProperties: 1,
    description:
      "Conditions on an argument's value. A list value must meet them element by element (allow rules: every element; deny and review rules: any). A value of the wrong type cannot be read: allow rules refuse it, deny and review rules match it.",
  },
);

export const McpRuleSection = Type.Object(
  {
    servers: Type.Optional(Type.Array(NonEmpty, { minItems: 1, description: "Globs over the upstream server's name in the target's config." })),
    methods: Type.Optional(
      List(
        "JSON-RPC methods (globs with / as separator): tools/call, resources/read, prompts/get, tools/list, sampling/createMessage, elicitation/create, roots/list, resources/*. Default: any.",
      ),
    ),
    tools: Type.Optional(
      List(
        "Tool names (globs) exactly as the server knows them. Allow rules match them exactly; deny and review rules also match other case and Unicode compatibility forms (Delete_File, fullwidth letters). A rule with tools matches only tools/call.",
      ),
    ),
    resources: Type.Optional(List("Resource URI globs (* within a / segment, ** across), e.g. file:///srv/data/**. A rule with resources matches only resources/read, resources/subscribe and resources/unsubscribe.")),
    prompts: Type.Optional(List("Prompt names (globs). A rule with prompts matches only prompts/get.")),
    arguments: Type.Optional(
      Type.Record(NonEmpty, McpArgumentCondition, {
        minProperties: 1,
        description:
          "Conditions on tools/call (or prompts/get) arguments by name. Where the runtime has the tool's pinned input schema, an argument it does not declare, or one whose JSON type it contradicts, makes allow rules refuse the call and deny and review rules match it.",
      }),
    ),
    sql: Type.Optional(
      Type.Object(
        {
          classes: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
          tables: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
          functions: Type.Optional(Type.Array(NonEmpty, { minItems: 1 })),
        },
        {
          ...strict,
          description:
            "For a server's SQL tool (the target's servers[].sql): the statement's classes, tables and functions, exactly as a postgres section reads them. A rule with sql matches only calls whose SQL was classified.",
        },
      ),
    ),
  },
  { ...strict, description: "MCP requests: JSON-RPC method, server, tool, resource, prompt, and the call's arguments." },
);
