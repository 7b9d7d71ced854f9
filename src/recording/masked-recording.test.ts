// The composition a terminal target builds: a real program's pty output, masked as it streams,
// recorded, and played back by asciinema.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileDetectors } from "../masking/detectors.ts";
import { createStreamMasker } from "../masking/stream-masker.ts";
import { openTerminalRecording } from "./terminal-recording.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-masked-rec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a pty's output, masked on the way, recorded and played by asciinema, shows no secret", async () => {
  const file = join(dir, "shell.cast");
  const rec = await openTerminalRecording({ file, width: 80, height: 24, term: "xterm" });
  const masker = createStreamMasker(compileDetectors(["email", "card"]));
  // script(1) runs the commands under a real pty: colours, CR LF, and output in several writes.
  const script = "printf '\\033[1;34mcustomers\\033[0m\\n'; for i in 1 2 3; do echo \"row $i: alice$i@example.com 4111 1111 1111 1111 café\"; done";
  const child = Bun.spawn(["script", "-q", "-e", "-c", script, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, LANG: "C.UTF-8" } });
  let shown = "";
  for await (const chunk of child.stdout) {
    const out = masker.write(chunk);
    shown += Buffer.from(out).toString("utf8");
    rec.output(out);
  }
  const rest = masker.flush(true);
  shown += Buffer.from(rest).toString("utf8");
  rec.output(rest);
  expect(await child.exited).toBe(0);
  const s = await rec.close();
  expect(s.sha256).toBe(new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex"));
  expect(shown).toContain("\x1b[1;34mcustomers\x1b[0m");
  expect(shown).toContain("row 3: [masked:email] [masked:card ****1111] café\r\n");
  expect(shown).not.toContain("@example.com");
  const cat = Bun.spawnSync(["script", "-q", "-e", "-c", `asciinema cat '${file}'`, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, LANG: "C.UTF-8" } });
  expect(cat.exitCode).toBe(0);
  expect(cat.stdout.toString()).toContain("row 1: [masked:email] [masked:card ****1111] café");
  expect(cat.stdout.toString()).not.toContain("alice1@");
});
