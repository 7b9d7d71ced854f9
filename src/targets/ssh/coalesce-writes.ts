// ssh2 writes each packet to the socket in three calls (length, encrypted body, MAC or tag),
// and Bun sends each as its own sendto(2): a 200 MB transfer made ~3 sends per 32 KB packet,
// two of them 4 and 16 bytes long, each a TCP segment the peer wakes up for. Corking the
// socket for the rest of the tick hands everything written in it to the kernel in one writev.
import type { Socket } from "node:net";

/** Gathers the socket's writes within one tick into one (its write() answers as before). */
export function coalesceWrites(socket: Socket): void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function (this: Socket, ...args: Parameters<Socket["write"]>) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Socket["write"];
}
