// Types of scripts/fault-proxy.mjs (plain JS, no build step), for TypeScript under strict mode.

export type ProxyMode =
  | { mode: 'pass' }
  | { mode: 'blackhole' }
  | { mode: 'latency'; latencyMs: number }
  | { mode: 'bandwidth'; bytesPerSecond: number }
  | { mode: 'reset'; everyMs: number };

export interface FaultProxyOptions {
  target: { host?: string; port: number };
  /** Listen port on 127.0.0.1; default a free one. */
  port?: number;
  /** Every forwarded chunk ('up' = client → target), for wire-level diagnostics. */
  onData?: (direction: 'up' | 'down', chunk: Buffer, connectionId: number) => void;
}

export interface FaultProxy {
  port: number;
  /** '127.0.0.1:<port>' */
  address: string;
  stats: { connections: number; resets: number; bytesUp: number; bytesDown: number; dropped: number };
  readonly mode: ProxyMode;
  /** Open connections. */
  readonly connections: number;
  setMode(mode: ProxyMode): void;
  resetAll(): void;
  close(): Promise<void>;
}

export function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy>;
