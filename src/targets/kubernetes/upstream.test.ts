import { expect, test } from "bun:test";
import { upstreamFields, upstreamHeaders, upstreamOf } from "./upstream.ts";

test("with a token source, each request's Authorization carries the token current at that moment", () => {
  let token: string | undefined = "first";
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443/", token: "as-started" }, { token: () => token });
  const sent = () => upstreamHeaders(new Headers({ authorization: "Bearer caller" }), upstream, { impersonate: [], jsonOnly: false }).get("authorization");
  expect(sent()).toBe("Bearer first");
  token = "second";
  expect(sent()).toBe("Bearer second");
  token = undefined;
  expect(sent()).toBeNull();
});

test("without one, the token as started is sent", () => {
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443", token: "as-started" });
  expect(upstream.base).toBe("https://10.0.0.1:6443");
  expect(upstreamHeaders(new Headers(), upstream, { impersonate: [], jsonOnly: false }).get("authorization")).toBe("Bearer as-started");
});

test("a replaced client certificate file is read again for the next request; one that cannot be read keeps the files in use", async () => {
  const { mkdtempSync, rmSync, writeFileSync, renameSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { dirname, join } = await import("node:path");
  const { watchFolder } = await import("../../gate/watch-folder.ts");
  const { waitFor } = await import("../../../test/helpers/wait.ts");
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-kube-upstream-"));
  const pem = (what: string) => `-----BEGIN CERTIFICATE-----\n${what}\n-----END CERTIFICATE-----\n`;
  writeFileSync(join(dir, "client.crt"), pem("first"));
  writeFileSync(join(dir, "client.key"), pem("key"));
  const errors: string[] = [];
  const upstream = upstreamOf(
    { url: "https://10.0.0.1:6443", client_cert: join(dir, "client.crt"), client_key: join(dir, "client.key") },
    {
      watchFiles: (paths, onChange) => {
        const ws = [...new Set(paths.map((p) => dirname(p)))].map((d) => watchFolder(d, onChange, { debounceMs: 20, onError: (m) => errors.push(m) }));
        return { close: () => ws.forEach((w) => w.close()) };
      },
      onReadError: (m) => errors.push(m),
    },
  );
  try {
    expect(upstream.tls.cert).toBe(pem("first"));
    writeFileSync(join(dir, "client.crt.new"), pem("second"));
    renameSync(join(dir, "client.crt.new"), join(dir, "client.crt"));
    await waitFor("the new client certificate", () => upstream.tls.cert === pem("second"));
    rmSync(join(dir, "client.crt"));
    await waitFor("the read error", () => (upstream.tls.cert === pem("second") && errors.length > 0 ? true : null));
    expect(errors[0]).toContain("cannot read the upstream client certificate");
    expect(upstream.tls.cert).toBe(pem("second"));
  } finally {
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("upstreamFields (the fast lane) gives the fields upstreamHeaders gives from the same lines, in its order", () => {
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443", token: "gw" });
  const names = ["Accept", "accept", "User-Agent", "Authorization", "Connection", "X-Custom", "x-custom", "Keep-Alive", "X-Remote-User", "Host", "Forwarded", "Set-Cookie", "Cookie", "Te", "Accept-Encoding", "X-Forwarded-For", "Audit-Id", "Kubectl-Command"];
  const values = ["application/json", " padded\t", "a, b", "keep-alive, x-custom", "close", "Bearer caller", "", "x", "gzip"];
  let seed = 5;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 16) % n;
  };
  for (let i = 0; i < 2000; i++) {
    const lines: [string, string][] = Array.from({ length: rand(8) }, () => [names[rand(names.length)]!, values[rand(values.length)]!.trim()]);
    const h = new Headers();
    for (const [k, v] of lines) h.append(k, v);
    const expected: [string, string][] = [];
    upstreamHeaders(h, upstream, { impersonate: [], jsonOnly: false }).forEach((v, k) => void expected.push([k, v]));
    expect({ lines, fields: Object.entries(upstreamFields(lines, upstream)!) }).toEqual({ lines, fields: expected });
  }
  // A line a Headers would refuse: the full path drops it, the lane is not taken.
  expect(upstreamFields([["X-Bad", "a\u0100b"]], upstream)).toBeNull();
  expect(upstreamFields([["Bad Name", "x"]], upstream)).toBeNull();
});
