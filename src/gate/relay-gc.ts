// Paced garbage collection for targets that relay streams (PostgreSQL result sets, SSH channels):
// network buffers weigh little in the JS engine's GC accounting, so a long transfer piles up
// garbage chunks (over a hundred MB for 200 MB through an SSH channel) before a collection
// runs. A full collection every GC_EVERY bytes relayed (over all sessions of a target), or when
// resident memory grew by RSS_GROWTH since the last, keeps it flat; with a small live heap it
// costs a few milliseconds. (The PostgreSQL target has the same pacing inline.)

const GC_EVERY = 4 * 1024 * 1024;
const RSS_CHECK_EVERY = 64 * 1024;
const RSS_GROWTH = 32 * 1024 * 1024;

export interface GcPacerOptions {
  readonly gc?: () => void;
  readonly rss?: () => number;
}

/** Call the result with the size of each chunk relayed. */
export function gcPacer(opts: GcPacerOptions = {}): (bytes: number) => void {
  const gc = opts.gc ?? (() => Bun.gc(true));
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  let sinceGc = 0;
  let sinceCheck = 0;
  let rssAfterGc = rss();
  const collect = () => {
    sinceGc = 0;
    gc();
    rssAfterGc = rss();
  };
  return (bytes) => {
    sinceGc += bytes;
    sinceCheck += bytes;
    if (sinceGc >= GC_EVERY) collect();
    else if (sinceCheck >= RSS_CHECK_EVERY) {
      sinceCheck = 0;
      if (rss() > rssAfterGc + RSS_GROWTH) collect();
    }
  };
}
