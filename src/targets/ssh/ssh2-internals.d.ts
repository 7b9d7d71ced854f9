// The one internal of the ssh2 package the gateway uses (see ssh-wire.ts): it sends a packet
// the package's Protocol has built, queuing it during a key exchange.
declare module "ssh2/lib/protocol/utils.js" {
  export function sendPacket(proto: unknown, packet: Buffer, bypass?: boolean): boolean;
}
