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
}
