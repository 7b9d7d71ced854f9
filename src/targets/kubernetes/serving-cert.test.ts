import { expect, test } from "bun:test";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateServingCert, makeSelfSignedCert, servingHosts } from "./serving-cert.ts";

test("a self-signed certificate for the hosts given, that its own key signed", () => {
  const { certPem, keyPem } = makeSelfSignedCert("gatehouse t", ["127.0.0.1", "::1", "localhost", "gw.example"]);
  const x = new X509Certificate(certPem);
  expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
  expect(x.checkIP("::1")).toBeDefined();
  expect(x.checkHost("gw.example")).toBe("gw.example");
  expect(x.checkHost("other.example")).toBeUndefined();
  expect(x.verify(x.publicKey)).toBe(true);
  expect(x.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
});

test("made once into the state folder and kept; made again when the hosts change", () => {
  const dir = mkdtempSync(join(tmpdir(), "serving-cert-"));
  try {
    const a = loadOrCreateServingCert(dir, "gatehouse t", servingHosts("127.0.0.1", "box"));
    const b = loadOrCreateServingCert(dir, "gatehouse t", servingHosts("127.0.0.1", "box"));
    expect(b.certPem).toBe(a.certPem);
    expect(readFileSync(join(dir, "tls.crt"), "utf8")).toBe(a.certPem);
    const c = loadOrCreateServingCert(dir, "gatehouse t", servingHosts("10.1.2.3", "box"));
    expect(c.certPem).not.toBe(a.certPem);
    expect(new X509Certificate(c.certPem).checkIP("10.1.2.3")).toBe("10.1.2.3");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
