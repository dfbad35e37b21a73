/**
 * `telemetry-gateway tail`: a live view of the events on Kafka for operators, one line per event (or the event as
 * JSON with --json, for piping). Read-only: it joins a consumer group of its own with a random id and never commits
 * offsets, so any number of operators can tail the same topics without disturbing each other or any real consumer.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Consumer } from 'kafkajs';
import { editDistance } from '../config/problems.js';
import { GatewayError, errorMessage } from '../errors.js';
import { EventDecodeError, decodeEvent } from '../events/decode.js';
import { EVENT_TYPES, type EventType, type TelemetryEvent } from '../events/schema.js';
import { fail, kafkaConnectionFromConfig } from './common.js';
import { formatEventLine } from './tail-format.js';

/** The gateway's topic names under the default topic config (kafka.topics in the gateway config). */
export const DEFAULT_TOPIC_SUFFIXES = ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'] as const;

interface TailFlags {
  brokers?: string[];
  topic?: string[];
  config?: string;
  prefix?: string;
  device?: string[];
  type?: string[];
  metric?: string[];
  fromBeginning?: boolean;
  json?: boolean;
}

export interface TailFilter {
  devices: ReadonlySet<string>;
  types: ReadonlySet<EventType>;
  metrics: ReadonlySet<string>;
}

/** An empty set means "any". A metric filter keeps readings and alarms of that metric only. */
export function matches(filter: TailFilter, event: TelemetryEvent): boolean {
  if (filter.devices.size > 0 && !filter.devices.has(event.deviceId)) return false;
  if (filter.types.size > 0 && !filter.types.has(event.type)) return false;
  if (filter.metrics.size > 0) {
    const metric = event.type === 'reading' || event.type === 'alarm' ? event.metric : undefined;
    if (metric === undefined || !filter.metrics.has(metric)) return false;
  }
  return true;
}

/** Other gateways' prefixes named when none of the topics exists (the nearest to the one asked for first). */
const MAX_PREFIX_HINTS = 5;

const collect = (value: string, all: string[] = []): string[] => [
  ...all,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0),
];
const repeat = (value: string, all: string[] = []): string[] => [...all, value];

function parseTypes(values: readonly string[]): Set<EventType> {
  const unknown = values.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new GatewayError('GW_USAGE', `--type ${unknown.join(', ')}: unknown event type`, { details: [`event types: ${EVENT_TYPES.join(', ')}`] });
  }
  return new Set(values as EventType[]);
}

/** Writes to stdout; a closed pipe (`tail --json | head`) ends the command quietly. */
function writeLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function tail(flags: TailFlags): Promise<void> {
  const connection = kafkaConnectionFromConfig(flags.config);
  const brokers = flags.brokers ?? connection.brokers ?? ['127.0.0.1:9092'];
  const prefix = flags.prefix ?? connection.prefix ?? 'telemetry.';
  const bad = brokers.filter((b) => !/^[^\s:]+:\d{1,5}$/.test(b));
  if (bad.length > 0) throw new GatewayError('GW_USAGE', `--brokers ${bad.join(', ')}: expected host:port`);
  const topics = flags.topic ? [...new Set(flags.topic)] : DEFAULT_TOPIC_SUFFIXES.map((s) => `${prefix}${s}`);
  const filter: TailFilter = { devices: new Set(flags.device), types: parseTypes(flags.type ?? []), metrics: new Set(flags.metric) };

  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  // Loaded only when tail runs: `run` registers this command too and need not carry kafkajs.
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'telemetry-gateway-tail',
    brokers,
    ...connection.security,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 3 },
  });
  // Topics that do not exist yet are left out (subscribing would create them or fail); the gateway creates its
  // topics on its first send, so run tail again once they exist.
  // Where "now" is, per partition, before we start: in live mode everything below is skipped, so a record that
  // happens to be fetched before the seek below applies is never shown.
  const startOffsets = new Map<string, bigint>();
  const admin = kafka.admin();
  let existing: string[];
  let known = new Set<string>();
  try {
    await admin.connect();
    known = new Set(await admin.listTopics());
    existing = topics.filter((t) => known.has(t));
    if (!flags.fromBeginning) {
      for (const topic of existing) {
        for (const p of await admin.fetchTopicOffsets(topic)) startOffsets.set(`${topic}:${p.partition}`, BigInt(p.high));
      }
    }
  } catch (err) {
    throw new GatewayError('GW_USAGE', `cannot reach Kafka at ${brokers.join(', ')}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const missing = topics.filter((t) => !existing.includes(t));
  if (existing.length === 0) {
    // Gateways with another prefix on this broker (their readings topic ends in the default name), nearest first.
    const prefixes = [...known]
      .filter((t) => t.endsWith('readings') && !t.startsWith('__'))
      .map((t) => t.slice(0, -'readings'.length))
      .sort((a, b) => editDistance(a, prefix) - editDistance(b, prefix) || a.localeCompare(b));
    const shownPrefixes = prefixes.slice(0, MAX_PREFIX_HINTS).map((p) => `--prefix ${p}`);
    if (prefixes.length > MAX_PREFIX_HINTS) shownPrefixes.push(`${prefixes.length - MAX_PREFIX_HINTS} more`);
    const hint = prefixes.length > 0 ? `topics of gateways with another prefix exist here: ${shownPrefixes.join(', ')}` : 'no topic on this broker ends in "readings"';
    throw new GatewayError('GW_USAGE', `none of the topics exists on ${brokers.join(', ')}: ${topics.join(', ')}`, {
      details: [
        `${hint}; check --prefix (the gateway config's kafka.topics.prefix), pass --config gateway.yaml, or name topics with --topic`,
        'a gateway creates its topics with its first events: if yours runs but nothing reached it yet, start tail again once events flow',
      ],
    });
  }
  if (missing.length > 0) process.stderr.write(`not tailing ${missing.join(', ')}: no such topic (yet)\n`);

  const groupId = `telemetry-gateway-tail-${hostname()}-${randomBytes(6).toString('hex')}`;
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) process.exit(code);
    stopping = true;
    void consumer.disconnect().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return;
    process.stderr.write(`error: the Kafka consumer stopped: ${errorMessage(payload.error)}\n`);
    stop(1);
  });

  await consumer.connect();
  // Every topic "from the beginning": the group is new and commits nothing, so this is the earliest offset; live
  // mode then seeks each partition that existed at start to its end (topics created later are new by definition).
  await consumer.subscribe({ topics: existing, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const from = startOffsets.get(`${batch.topic}:${batch.partition}`) ?? 0n;
      for (const message of batch.messages) {
        if (stopping) return;
        if (BigInt(message.offset) < from) continue;
        let event: TelemetryEvent;
        try {
          event = decodeEvent({ value: message.value, headers: message.headers, key: message.key });
        } catch (err) {
          const where = `${batch.topic}/${batch.partition}@${message.offset}`;
          if (err instanceof EventDecodeError) process.stderr.write(`${where}: ${err.format()}\n`);
          else process.stderr.write(`${where}: error: ${errorMessage(err)}\n`);
          continue;
        }
        if (!matches(filter, event)) continue;
        writeLine(flags.json ? JSON.stringify(event) : formatEventLine(event));
      }
    },
  });
  for (const [position, offset] of startOffsets) {
    const colon = position.lastIndexOf(':');
    consumer.seek({ topic: position.slice(0, colon), partition: Number(position.slice(colon + 1)), offset: offset.toString() });
  }
  process.stderr.write(`tailing ${existing.join(', ')} on ${brokers.join(',')} (${flags.fromBeginning ? 'from the beginning' : 'new events'}); Ctrl-C stops\n`);
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('Show the events on Kafka as they arrive, one line per event (time, device, metric, value with unit, quality); read-only, commits nothing')
    .option('-b, --brokers <host:port>', 'Kafka bootstrap brokers (repeatable or comma-separated; default 127.0.0.1:9092)', collect)
    .option('-t, --topic <name>', 'topic to read (repeatable; default: the five gateway topics under --prefix)', collect)
    .option('-c, --config <file>', "a gateway config: use its brokers, TLS/SASL settings and topic prefix (flags still win)")
    .option('--prefix <prefix>', 'topic prefix of the gateway (kafka.topics.prefix; default telemetry.)')
    .option('-d, --device <id>', 'only events of this device (repeatable)', repeat)
    .option('--type <type>', `only events of this type (repeatable): ${EVENT_TYPES.join(', ')}`, collect)
    .option('-m, --metric <name>', 'only readings and alarms of this metric (repeatable)', repeat)
    .option('--from-beginning', 'start at the oldest event Kafka still holds instead of new events only')
    .option('--json', 'print each event as one line of JSON (current schema version) instead of text')
    .action((flags: TailFlags) => tail(flags).catch(fail));
}
