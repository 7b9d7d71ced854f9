#!/usr/bin/env bash
# The one test command (README, `npm test`, CI): build the binary, run every unit and
# end-to-end test, run the policy tests of policies/, and end with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BUN=node_modules/.bin/bun
out=$(mktemp -d)
passed=0
failed=0

if ! $BUN build.ts; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

$BUN test --timeout 120000 "$@" 2>&1 | tee "$out/bun.txt"
status=${PIPESTATUS[0]}
p=$(grep -E '^ *[0-9]+ pass$' "$out/bun.txt" | tail -1 | grep -oE '[0-9]+')
f=$(grep -E '^ *[0-9]+ fail$' "$out/bun.txt" | tail -1 | grep -oE '[0-9]+')
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
# A crash or an error outside any test leaves no count of its own: count it as a failure.
if [ "$status" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi

if [ $# -eq 0 ]; then
  ./dist/gatehouse test policies/ --json > "$out/policy.json" 2> "$out/policy.err"
  pstatus=$?
  ./dist/gatehouse test policies/ || true
  pp=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const c=r.summary??r;console.log(c.passed??0, c.failed??0)' "$out/policy.json" 2>/dev/null || echo "0 1")
  read -r ppass pfail <<<"$pp"
  passed=$((passed + ppass))
  failed=$((failed + pfail))
  if [ "$pstatus" -ne 0 ] && [ "$pfail" -eq 0 ]; then failed=$((failed + 1)); fi
fi

rm -rf "$out"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
