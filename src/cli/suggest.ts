// "Did you mean …?" for a mistyped command: the nearest known name by edit distance, when it is
// near enough that the suggestion is more likely right than noise.

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbouring letters each cost 1, so "tial" is one step from "tail", as a typist sees it.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name nearest to `typed`, or undefined when none is near: at most 2 edits (1 for
 * words of 3 letters or fewer, where 2 edits reach almost anything). A name that `typed` is the
 * start of ("req" for "requests") also counts, when only one name starts so. Ties go to the
 * name listed first.
 */
export function nearest(typed: string, names: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  const limit = word.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of names) {
    const dist = editDistance(word, name);
    if (dist < bestDistance) {
      best = name;
      bestDistance = dist;
    }
  }
  if (best !== undefined && bestDistance <= limit) return best;
  const starting = word.length >= 2 ? names.filter((n) => n.startsWith(word)) : [];
  return starting.length === 1 ? starting[0] : undefined;
}
