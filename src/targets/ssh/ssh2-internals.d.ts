// Internals of the ssh2 package the gateway uses. sendPacket (see ssh-wire.ts) sends a packet
// the package's Protocol has built, queuing it during a key exchange.
declare module "ssh2/lib/protocol/utils.js" {
  export function sendPacket(proto: unknown, packet: Buffer, bypass?: boolean): boolean;
}

// ssh2's cipher factories (see ssh2-aes-gcm.ts, which patches the classes they make).
declare module "ssh2/lib/protocol/crypto.js" {
  const crypto: { readonly bindingAvailable: boolean; createCipher(config: unknown): object; createDecipher(config: unknown): object };
  export default crypto;
}
