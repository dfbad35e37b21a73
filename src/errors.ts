/**
 * Every error the gateway reports to a user has a stable code from this one registry.
 * docs/errors.md documents each code; a test keeps the two in sync.
 */
export const ERROR_CODES = {
  GW_CONFIG_NOT_FOUND: 'The configuration file does not exist or cannot be read.',
  GW_CONFIG_PARSE: 'The configuration file is not valid YAML.',
  GW_CONFIG_INVALID: 'The configuration has problems (schema, driver files, secrets); every problem is listed once, a driver or secret problem with its own code on its line.',
  GW_DRIVER_NOT_FOUND: 'A device references a driver file that is in none of the driver folders.',
  GW_DRIVER_INVALID: 'A driver file in devices/ is not valid YAML or does not match its schema; file, path and reason are listed.',
  GW_SECRET_MISSING: 'A secret referenced by the configuration (environment variable or file) is not available.',
  GW_BUFFER_OPEN: 'The SQLite buffer file cannot be opened or created.',
  GW_BUFFER_WRITE: 'An event could not be committed to the SQLite buffer.',
  GW_KAFKA_CLIENT: 'kafka.client is librdkafka but its native module is not installed or does not load; the message names the build command (or use kafka.client: kafkajs).',
  GW_BUFFER_DISK_FULL:
    "The buffer's file system refused a commit (full, or the file may not grow): nothing more is acknowledged upstream and polling waits; the commit is retried every second and everything resumes by itself once there is room.",
  GW_BUFFER_CORRUPT:
    'The buffer file failed its integrity check at start (truncated, overwritten or damaged pages): the gateway does not start on it and leaves it as it is.',
  GW_KAFKA_SEND: 'A batch could not be delivered to Kafka; it stays buffered and is retried.',
  GW_MQTT_CONNECT: 'The MQTT broker could not be reached or refused the connection; the input retries.',
  GW_DECODE_FAILED: 'An input payload could not be decoded; it was sent to the dead-letter topic.',
  GW_EVENT_INVALID: 'A Kafka record is not a valid edge-telemetry-gateway event (value or CloudEvents headers); decodeEvent lists every problem.',
  GW_EVENT_VERSION: 'An event has a schemaVersion this decoder does not know (newer than it, or too old to upgrade).',
  GW_HTTP_LISTEN: 'The metrics and status listener cannot bind its address; the gateway keeps running without it and retries every 30 s.',
  GW_USAGE: 'The command line is invalid.',
  GW_MODBUS_CONNECT: 'A Modbus bus (TCP endpoint, serial port, device server) cannot be opened or was lost; the input reconnects with backoff.',
  GW_MODBUS_REQUEST: 'Modbus requests of a device failed (timeout or exception, named); its metrics are reported with quality bad and its status changes.',
  GW_MODBUS_OVERRUN: 'A Modbus poll was still running when the next one was due; the missed poll is reported as a gap event.',
  GW_SERIAL_PORT: 'A serial port cannot be opened, failed or disappeared (device unplugged); the device is reported offline and the port reopened with backoff.',
  GW_BUFFER_READ: 'The buffer file cannot be opened read-only (replay, buffer stats).',
  GW_REPLAY_SEND: 'Replay could not deliver a batch to Kafka after several attempts; the message says how far it got.',
  GW_KAFKA_READ: 'A topic could not be read from Kafka (audit).',
  GW_RELOAD_NEEDS_RESTART: 'A reload (SIGHUP) read changes to the gateway id, buffer, Kafka or shutdown settings; they take effect only after a restart, the rest was applied.',
  GW_KAFKA_AUTH: 'Kafka rejected the SASL login (user, password or mechanism); events stay buffered and are retried.',
  GW_KAFKA_TLS: 'The TLS connection to Kafka failed: the broker certificate is not trusted or does not match, or the port does not speak TLS; events stay buffered and are retried.',
  GW_MQTT_AUTH: 'The MQTT broker refused the login (bad user name or password, or not authorized); the input retries with backoff.',
  GW_MQTT_TLS: 'The TLS connection to the MQTT broker failed: its certificate is not trusted or does not match, or the port does not speak TLS; the input retries.',
  GW_MQTT_INTERNALS: 'The installed MQTT.js does not work the way acknowledging after the commit relies on (another version than the pinned one); the MQTT input refuses to start rather than acknowledge uncommitted messages.',
  GW_MQTT_BROKER_DROPPED: 'The MQTT broker reports QoS 1/2 messages it dropped (its queue for a slow or absent client was full); those for this gateway are lost; the gateway is degraded.',
  GW_MQTT_DROPS_UNMONITORED: 'The MQTT broker publishes no drop statistics the gateway can read ($SYS denied or not provided): messages it drops would go unnoticed.',
  GW_MQTT_PROBE: 'check-config --probe found a broker setting that loses or risks losing messages (a bounded queue that dropped probe messages, a capped session or window).',
  GW_HL7_LISTEN: 'The HL7 MLLP listener cannot bind its address (port taken, address not on this machine); the input retries every 5 s.',
  GW_HL7_CONNECT: 'The HL7 input (connect mode) cannot reach the sender that serves MLLP; it retries with backoff.',
  GW_HL7_TLS: 'An MLLP TLS handshake failed (sender certificate missing or not trusted, sender not speaking TLS, or our certificate not trusted by the sender).',
  GW_HL7_REFUSED: 'An MLLP connection was closed at once: its address is not in listen.allow, or listen.maxConnections was reached.',
  GW_HL7_REJECTED: 'An HL7 message was refused with AR / CR (unsupported message type or version, no control id, too large); nothing was stored.',
  GW_HL7_CONTROL_ID_REUSED: 'A sender sent a message control id (MSH-10) again with other content; it was stored as a new message, not taken for a resend.',
  GW_NATIVE_MODULE: 'A compiled dependency (better-sqlite3) was built for another Node.js version or CPU than the node running the gateway.',
  GW_SCHEMA_REGISTRY: 'The schema registry could not be reached or answered with an error; events are accepted and buffered, delivery waits until the schemas are registered.',
  GW_SCHEMA_INCOMPATIBLE: 'The schema registry refuses an event schema as incompatible with what its subject holds; the gateway does not start (schemas register/check exit 1).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Extra lines shown to the user below the message (e.g. every config error). */
  readonly details: readonly string[];
  /** Remarks printed after the details and not counted among them (e.g. what could not be checked yet). */
  readonly notes: readonly string[];

  constructor(code: ErrorCode, message: string, options: { details?: readonly string[]; notes?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = options.details ?? [];
    this.notes = options.notes ?? [];
  }

  /** The text printed by the CLI: code, message, one item per detail (its further lines indented), then the notes. */
  format(): string {
    const items = this.details.map((d) => `  - ${d.split('\n').join('\n    ')}`);
    return [`${this.code}: ${this.message}`, ...items, ...this.notes.map((n) => `  ${n}`)].join('\n');
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
