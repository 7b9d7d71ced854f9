// A TypeBox schema's checker that costs nothing until it is used much. Compiling a schema
// (TypeCompiler: generate JavaScript, then evaluate it) takes about 2 ms of CPU, and the audit
// record's schemas were compiled as the gateway started, before it could accept a connection
// (bench/README.md, start-up). The first checks are interpreted instead (Value.Check: the same
// rules, about 3× slower per check); after `compileAfter` of them the schema is compiled, which
// then pays for itself. Errors are TypeBox's own in both cases. The compiler module itself is
// loaded then too, in the background (its import cost ~1 ms at every start); checks stay
// interpreted until it is there.
import type { Static, TSchema } from "@sinclair/typebox";
import type { TypeCheck } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";

type Compile = <S extends TSchema>(schema: S) => TypeCheck<S>;

let compiler: Compile | null = null;
let compilerLoading: Promise<void> | null = null;

/** The TypeBox compiler once loaded; the first call starts loading it and returns null. */
function loadedCompiler(): Compile | null {
  compilerLoading ??= import("@sinclair/typebox/compiler").then(
    (m) => {
      compiler = (s) => m.TypeCompiler.Compile(s);
    },
    () => {
      // Checks stay interpreted: slower, never wrong.
    },
  );
  return compiler;
}

export interface SchemaChecker<T extends TSchema> {
  /** Whether `value` matches the schema. */
  check(value: unknown): value is Static<T>;
  /** Why `value`, which check() refused, does not match: its first error as "path: message" (`otherwise` if TypeBox names none). */
  explain(value: unknown, otherwise: string): string;
}

export interface SchemaCheckerOptions {
  /** Interpreted checks before the schema is compiled (default 256: compiling costs about as much as ~400 interpreted checks more than compiled ones). */
  readonly compileAfter?: number;
  /** For tests: the compiler (default TypeBox's, loaded when first needed). */
  readonly compile?: Compile;
}

export function schemaChecker<T extends TSchema>(schema: T, opts: SchemaCheckerOptions = {}): SchemaChecker<T> {
  const compileAfter = opts.compileAfter ?? 256;
  const given = opts.compile;
  let compiled: TypeCheck<T> | null = null;
  let interpreted = 0;
  return {
    check(value): value is Static<T> {
      if (compiled !== null) return compiled.Check(value);
      if (++interpreted >= compileAfter) {
        const compile = given ?? loadedCompiler();
        if (compile !== null) compiled = compile(schema);
      }
      return Value.Check(schema, value);
    },
    explain(value, otherwise) {
      const first = Value.Errors(schema, value).First();
      return first ? `${first.path || "/"}: ${first.message}` : otherwise;
    },
  };
}
