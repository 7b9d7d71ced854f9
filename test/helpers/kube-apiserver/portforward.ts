// pods/portforward over WebSocket, both ways a client can ask for it:
// - "SPDY/3.1+portforward.k8s.io": what kubectl 1.30+ sends. SPDY streams tunnelled in the
//   WebSocket; each forwarded connection is a pair of streams (headers streamType=error|data,
//   port, requestID), as the kubelet's httpstream port-forward handler pairs them. Errors go on
//   the error stream as text; the error stream is closed once the connection ends.
// - "v4.channel.k8s.io" / "portforward.k8s.io": the channel protocol (for browsers and other
//   clients): per requested port i, data on channel 2i and errors on 2i+1, each channel's first
//   server message being the port as two little-endian bytes; one connection per port.
import { connect } from "node:net";
import type { Socket } from "node:net";
import type { WsConn } from "./websocket.ts";
import type { PortTarget } from "./pod-runtime.ts";
import { SpdySession } from "./spdy.ts";
import type { SpdyStream } from "./spdy.ts";

export const PORTFORWARD_PROTOCOLS = ["SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io"] as const;

export interface PortForwardOptions {
  readonly protocol: string;
  readonly ports: number[];
  readonly target: (port: number) => PortTarget | undefined;
  readonly podName: string;
  readonly podUid: string;
  readonly namespace: string;
}

interface Relay {
  write(data: Uint8Array): void;
  end(): void;
  destroy(): void;
}

/**
 * Connects to the pod port's local stand-in. `onData`/`onEnd` get the far side's bytes and close;
 * `onError` the kubelet-style message when the port is not mapped or refuses.
 */
function dial(opts: PortForwardOptions, port: number, onData: (d: Uint8Array) => void, onEnd: () => void, onError: (msg: string) => void, drained: () => Promise<void> | undefined): Relay {
  const t = opts.target(port);
  const fail = (why: string) => onError(`error forwarding port ${port} to pod ${opts.podUid}, uid : failed to connect to localhost:${port} inside namespace "${opts.namespace}": ${why}`);
  if (!t) {
    queueMicrotask(() => fail(`dial tcp 127.0.0.1:${port}: connect: connection refused`));
    return { write() {}, end() {}, destroy() {} };
  }
  const pending: Uint8Array[] = [];
  let connected = false;
  let ended = false;
  const sock: Socket = connect({ host: t.host, port: t.port }, () => {
    connected = true;
    for (const p of pending) sock.write(p);
    pending.length = 0;
    if (ended) sock.end();
  });
  sock.on("data", (d: Buffer) => {
    onData(new Uint8Array(d));
    // The WebSocket's buffer is full: stop reading the pod's port until it drains.
    const wait = drained();
    if (wait) {
      sock.pause();
      void wait.then(() => sock.resume());
    }
  });
  sock.on("end", () => onEnd());
  sock.on("error", (e) => (connected ? onEnd() : fail(e.message)));
  return {
    write(d) {
      if (connected) sock.write(d);
      else pending.push(d.slice());
    },
    end() {
      ended = true;
      if (connected) sock.end();
    },
    destroy() {
      sock.destroy();
    },
  };
}

export class PortForwardSession {
  private spdy: SpdySession | undefined;
  private readonly pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream; relay?: Relay }>();
  private readonly relays: Relay[] = [];
  private readonly channelRelays = new Map<number, Relay>();

  constructor(
    private readonly ws: WsConn,
    private readonly opts: PortForwardOptions,
  ) {
    if (opts.protocol.startsWith("SPDY/3.1+")) {
      this.spdy = new SpdySession({
        send: (b) => ws.sendBinary(b),
        onStream: (s) => this.onSpdyStream(s),
        onError: (msg) => ws.close(1002, msg.slice(0, 120)),
      });
    } else this.startChannels();
  }

  private onSpdyStream(s: SpdyStream): void {
    const type = s.headers.get("streamtype");
    const id = s.headers.get("requestid") ?? "";
    const port = Number(s.headers.get("port"));
    let pair = this.pairs.get(id);
    if (!pair) this.pairs.set(id, (pair = {}));
    if (type === "error") pair.error = s;
    else if (type === "data") pair.data = s;
    else {
      s.close();
      return;
    }
    if (!pair.error || !pair.data || pair.relay) return;
    const { error, data } = pair;
    const finish = () => {
      data.close();
      error.close();
      this.pairs.delete(id);
    };
    const relay = dial(
      this.opts,
      port,
      (d) => data.write(d),
      () => finish(),
      (msg) => {
        error.write(new TextEncoder().encode(msg));
        finish();
      },
      () => this.ws.drained(),
    );
    pair.relay = relay;
    this.relays.push(relay);
    data.onData = (d) => relay.write(d);
    data.onRemoteClose = () => relay.end();
    data.onReset = () => {
      relay.destroy();
      error.close();
      this.pairs.delete(id);
    };
  }

  private startChannels(): void {
    this.opts.ports.forEach((port, i) => {
      const prefix = new Uint8Array([port & 0xff, (port >> 8) & 0xff]);
      this.sendChannel(2 * i, prefix);
      this.sendChannel(2 * i + 1, prefix);
      const relay = dial(
        this.opts,
        port,
        (d) => this.sendChannel(2 * i, d),
        () => this.ws.close(1000, ""),
        (msg) => {
          this.sendChannel(2 * i + 1, new TextEncoder().encode(msg));
          this.ws.close(1000, "");
        },
        () => this.ws.drained(),
      );
      this.channelRelays.set(2 * i, relay);
      this.relays.push(relay);
    });
  }

  private sendChannel(ch: number, data: Uint8Array): void {
    const f = new Uint8Array(data.length + 1);
    f[0] = ch;
    f.set(data, 1);
    this.ws.sendBinary(f);
  }

  onMessage(m: string | Uint8Array): void {
    if (typeof m === "string") {
      this.ws.close(1003, "text frames are not part of the port-forward protocols");
      return;
    }
    if (this.spdy) {
      this.spdy.receive(m);
      return;
    }
    if (m.length === 0) return;
    this.channelRelays.get(m[0]!)?.write(m.subarray(1));
  }

  onClose(): void {
    this.spdy?.close();
    for (const r of this.relays) r.destroy();
  }
}
