import type { EventDraft } from '../events/schema.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** Where inputs hand their events: resolves once they are durable (the buffer's group commit). */
export interface IngestSink {
  append(drafts: readonly EventDraft[]): Promise<void>;
  /** Commits what was handed over so far without waiting for the linger time. */
  flush(): void;
}

/** Where an input finds the files its config references (driver files). */
export interface InputContext {
  /** Folder of the gateway config file; relative paths resolve against it. */
  configDir: string;
  /** Folders searched for driver names, first match wins (see src/drivers/driver-files.ts). */
  driverSearchPaths: readonly string[];
}

/** What every input gets from the gateway; constructors only store it, `start()` does the work. */
export interface InputDeps extends InputContext {
  gatewayId: string;
  sink: IngestSink;
  logger: Logger;
  clock: Clock;
}

/** An input owns one transport and its lifecycle (connect, reconnect, unplug/replug), nothing else. */
export interface Input {
  readonly name: string;
  start(): Promise<void>;
  /** Stops taking data; what was taken is committed and acknowledged before it resolves. */
  stop(): Promise<void>;
  /**
   * Optional: transport figures only the input knows (Modbus requests/exceptions, serial bytes/checksum failures,
   * connection state), read at every /metrics scrape and status-page refresh. See src/observability/README.md.
   */
  metrics?(): InputMetric[];
  /** Optional: device ids known from the config, listed on the status page before they send anything. */
  devices?(): readonly string[];
}

/**
 * One figure of an input. Exported as `etg_<name>` with an `input` label added; `name` is snake_case with a
 * family prefix (`modbus_requests_total`), counters end in `_total`; labels are bounded (device, unit id,
 * function code, never a per-event value).
 */
export interface InputMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels?: Readonly<Record<string, string>>;
  value: number;
}
