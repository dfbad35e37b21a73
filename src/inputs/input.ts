import type { ConfigProblem } from '../config/problems.js';
import type { ErrorCode } from '../errors.js';
import type { EventDraft } from '../events/schema.js';
import type { Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { Logger } from '../util/logger.js';

/**
 * The source message an append came from, for push inputs that acknowledge their sender (MQTT PUBACK, HL7 ACK).
 * `source` scopes the keys (e.g. one MQTT session, one HL7 listener), `key` names the message within it (MQTT
 * packet id, HL7 sending application + control id), `digest` fingerprints its content (topic + payload hash).
 */
export interface SourceReceipt {
  source: string;
  key: string;
  digest: string;
}

/** A receipt as the ledger holds it. */
export interface FoundReceipt {
  digest: string;
  /** Per-source number given at append time: the order in which the messages arrived. */
  number: number;
  /** When it was committed (epoch ms); null while its commit is still pending. */
  committedAt: number | null;
  /** Resolves once the receipt (and the events of its append) are committed; rejects if that commit failed. */
  committed: Promise<void>;
}

/**
 * Which source messages were committed, kept in the buffer file in the same transaction as their events, so it
 * survives a crash exactly as far as the events do. A push input asks it whether a message it receives again (a
 * resend because our acknowledgment was lost) was already committed; then it acknowledges again and creates no
 * second event. What counts as "the same message" and when a receipt may be forgotten is the input's rule (see
 * src/inputs/mqtt/README.md and src/inputs/hl7/README.md); the ledger only stores, numbers and finds.
 */
export interface ReceiptLedger {
  /** The receipt last appended under source + key: one still being committed first, else the committed one. */
  find(source: string, key: string): FoundReceipt | undefined;
  /** Highest receipt number handed out for `source` (0 when none); survives restarts. */
  latestNumber(source: string): number;
  /** Forgets the receipts of `source` committed before `before` (epoch ms); returns how many. */
  purge(source: string, before: number): number;
}

/** Where inputs hand their events: resolves once they are durable (the buffer's group commit). */
export interface IngestSink {
  /**
   * Resolves once the drafts (and the receipt, if given, in the same transaction) are committed. An append with
   * no drafts and a receipt records only the receipt (a resend acknowledged again).
   */
  append(drafts: readonly EventDraft[], receipt?: SourceReceipt): Promise<void>;
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
  /** Receipts of committed source messages (the buffer), for inputs that must recognise resends. */
  receipts: ReceiptLedger;
  logger: Logger;
  clock: Clock;
}

/**
 * An input owns one transport and its lifecycle (connect, reconnect, unplug/replug), nothing else. It is started
 * and stopped like every other long-lived part (src/util/lifecycle.ts).
 */
export interface Input extends Lifecycle {
  readonly name: string;
  /** Stops taking data; what was taken is committed and acknowledged before it resolves. */
  stop(): Promise<void>;
  /**
   * Optional: transport figures only the input knows (Modbus requests/exceptions, serial bytes/checksum failures,
   * connection state), read at every /metrics scrape and status-page refresh. See src/observability/README.md.
   */
  metrics?(): InputMetric[];
  /** Optional: device ids known from the config, listed on the status page before they send anything. */
  devices?(): readonly string[];
  /**
   * Optional: what the transport is doing now (connected, listening, retrying) and where, for the status page.
   * Read with the figures: keep it cheap. See src/observability/README.md.
   */
  connection?(): InputConnection;
  /**
   * Optional: conditions that make the gateway `degraded` (data lost upstream, e.g. the MQTT broker dropped
   * messages), read with the figures. An empty list when all is well. See src/observability/README.md.
   */
  problems?(): InputProblem[];
}

/** The state of an input's transport, as a person reads it on the status page. */
export interface InputConnection {
  /**
   * `connected`: talking to its peer (broker, bus, open port, a sender); `listening`: a server input waiting for
   * senders; `connecting`: a first attempt under way; `disconnected`: down, retrying with backoff.
   */
  state: 'connected' | 'listening' | 'connecting' | 'disconnected';
  /** Where: broker host:port, bus address, serial port with its line settings, listen address. Never a credential. */
  endpoint: string;
  /** One short line: the last error while down, open connections, reopen count. */
  detail?: string;
  /** When it entered this state (gateway clock, ms), when known. */
  since?: number;
}

/** Something an input knows is wrong beyond its own reach; the gateway reports it as `degraded` while it lasts. */
export interface InputProblem {
  /** Stable code from src/errors.ts, documented in docs/errors.md. */
  code: ErrorCode;
  /** What happened and what to do, for people. */
  message: string;
  /** How many messages or events it concerns, when known. */
  count?: number;
  /** When it began and when it was last seen (gateway clock, ms). */
  since: number;
  lastSeen: number;
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
  /** Also summed over inputs into this figure of the gateway-health event (e.g. `brokerDroppedMessages`). */
  healthFigure?: string;
}

/**
 * One input family (src/inputs/<family>/), as src/inputs/registry.ts lists them; `C` is its `inputs[]` config.
 */
export interface InputFamily<C> {
  /**
   * Checks what the schema cannot: driver files exist and are valid, references resolve. Returns problems with
   * paths relative to the input (e.g. `['devices', 1, 'driver']`); empty when all is well. The loader runs it in
   * the same pass as the schema, on the valid part of an input that has schema problems.
   */
  check?(config: C, context: InputContext): ConfigProblem[];
  /** Lines of the `check-config` plan for this input (never secret values). */
  describe(config: C, context: InputContext & { gatewayId: string }): string[];
  create(config: C, deps: InputDeps): Input;
  /**
   * Optional (`check-config --probe`): connects to what the input would use and reports its limits that matter
   * for not losing data. Never throws for an unreachable endpoint: that is a line of the report.
   */
  probe?(config: C, context: InputContext & { gatewayId: string }, options: ProbeOptions): Promise<ProbeReport>;
}

export interface ProbeOptions {
  /** How long to wait for a connection and for what the endpoint publishes about itself. */
  timeoutMs: number;
  /** MQTT: measure the broker's queue per client with this many QoS 1 messages (opt-in: it publishes). */
  queueMessages?: number;
  /** Times the waits of the probe (the command passes the system clock). */
  clock: Clock;
}

export interface ProbeLine {
  /** error: loses or risks losing data (the command exits 1); warn: cannot be checked or lost elsewhere. */
  level: 'ok' | 'info' | 'warn' | 'error';
  text: string;
  code?: ErrorCode;
}

export interface ProbeReport {
  input: string;
  reachable: boolean;
  lines: ProbeLine[];
  /** Machine-readable figures for --json (limits, versions, counts). */
  facts: Record<string, unknown>;
}
