import type { ServerWebSocket } from "bun";
import type { PortTarget } from "./pod-runtime.ts";

export const PORTFORWARD_PROTOCOLS = ["SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io"] as const;

export interface PortForwardOptions {
  readonly protocol: string;
  readonly ports: number[];
  readonly target: (port: number) => PortTarget | undefined;
  readonly podName: string;
  readonly podUid: string;
  readonly namespace: string;
}

export class PortForwardSession {
  constructor(
    readonly ws: ServerWebSocket<unknown>,
    readonly opts: PortForwardOptions,
  ) {}
  onMessage(_m: string | Uint8Array): void {}
  onClose(): void {}
}
