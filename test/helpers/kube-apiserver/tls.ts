// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI at
// start-up, so every test API server has its own trust root and kubectl verifies it as it would
// a real cluster's (certificate-authority-data in the kubeconfig, no insecure-skip-tls-verify).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The CN (user) of the client certificate makeServerTls issues: the only one its CA signs. */
export const CLIENT_CERT_CN = "gatehouse-upstream";

export interface ServerTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** A client certificate the same CA signed (CN gatehouse-upstream, O system:masters), as a cluster admin's. */
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.exitCode}): ${r.stderr.toString().trim()}`);
}

/** A new CA and a server certificate it signed, valid for IP 127.0.0.1, ::1 and DNS localhost. */
export function makeServerTls(): ServerTls {
  const dir = mkdtempSync(join(tmpdir(), "kube-apiserver-tls-"));
  try {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
    openssl(["req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=kube-apiserver-test-ca", "-out", "ca.crt"], dir);
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"], dir);
    openssl(["req", "-new", "-key", "server.key", "-subj", "/CN=kube-apiserver", "-out", "server.csr"], dir);
    writeFileSync(
      join(dir, "ext.cnf"),
      ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc"].join("\n") + "\n",
    );
    openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "ext.cnf", "-out", "server.crt"], dir);
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "client.key"], dir);
    openssl(["req", "-new", "-key", "client.key", "-subj", `/O=system:masters/CN=${CLIENT_CERT_CN}`, "-out", "client.csr"], dir);
    writeFileSync(join(dir, "client.cnf"), "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");
    openssl(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "client.cnf", "-out", "client.crt"], dir);
    // openssl writes SEC1 EC keys; PKCS#8 is what every client library reads.
    openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "client.key", "-out", "client.pk8"], dir);
    return {
      clientCertPem: readFileSync(join(dir, "client.crt"), "utf8"),
      clientKeyPem: readFileSync(join(dir, "client.pk8"), "utf8"),
      caPem: readFileSync(join(dir, "ca.crt"), "utf8"),
      certPem: readFileSync(join(dir, "server.crt"), "utf8"),
      keyPem: readFileSync(join(dir, "server.key"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
