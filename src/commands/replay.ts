import type { Command } from 'commander';
import { openBufferReadOnly, type EventFilter } from '../buffer/reader.js';
import { loadConfig } from '../config/load.js';
import { GatewayError } from '../errors.js';
import { EVENT_TYPES } from '../events/schema.js';
import { createKafkaTransport } from '../forwarder/create-transport.js';
import { PlainProgress, TerminalProgress, formatDuration } from '../replay/progress.js';
import { REPLAYED_HEADER, Replayer, type ReplaySummary } from '../replay/replayer.js';
import { parseTimeArg } from '../replay/time-arg.js';
import { systemClock } from '../util/clock.js';
import { createLogger } from '../util/logger.js';
import { createRecordFormat } from '../registry/record-format.js';

interface ReplayCliOptions {
  config: string;
  since?: string;
  until?: string;
  device: string[];
  type: string[];
  toTopic?: string;
  rate?: string;
  dryRun?: boolean;
  brokers?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').filter((v) => v !== '')];

export function parseBrokers(text: string): string[] {
  const brokers = text.split(',').map((b) => b.trim()).filter((b) => b !== '');
  const bad = brokers.filter((b) => !/^[^\s:]+:\d{1,5}$/.test(b));
  if (brokers.length === 0 || bad.length > 0) {
    throw new GatewayError('GW_USAGE', `--brokers "${text}": expected host:port[,host:port...]`);
  }
  return brokers;
}

export function formatSummary(s: ReplaySummary): string {
  const lines = [
    s.dryRun
      ? `dry run: ${s.matched} events would be replayed (nothing was sent)`
      : `replayed ${s.sent} of ${s.matched} events in ${formatDuration(s.durationMs)} (${s.eventsPerSec} events/s)`,
  ];
  for (const [topic, n] of Object.entries(s.byTopic).sort()) lines.push(`  topic ${topic}: ${n}`);
  for (const [type, n] of Object.entries(s.byType).sort()) lines.push(`  type ${type}: ${n}`);
  return `${lines.join('\n')}\n`;
}

async function replay(options: ReplayCliOptions): Promise<void> {
  const { config } = loadConfig(options.config);
  const clock = systemClock;
  const now = clock.now();
  const filter: EventFilter = {};
  if (options.since !== undefined) filter.sinceMs = parseTimeArg('--since', options.since, now);
  if (options.until !== undefined) filter.untilMs = parseTimeArg('--until', options.until, now);
  if (filter.sinceMs !== undefined && filter.untilMs !== undefined && filter.sinceMs >= filter.untilMs) {
    throw new GatewayError('GW_USAGE', `--since (${new Date(filter.sinceMs).toISOString()}) must be before --until (${new Date(filter.untilMs).toISOString()})`);
  }
  if (options.device.length > 0) filter.deviceIds = options.device;
  const unknownTypes = options.type.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknownTypes.length > 0) {
    throw new GatewayError('GW_USAGE', `--type ${unknownTypes.join(', ')}: expected one of ${EVENT_TYPES.join(', ')}`);
  }
  if (options.type.length > 0) filter.types = options.type;
  let ratePerSec: number | undefined;
  if (options.rate !== undefined) {
    ratePerSec = Number(options.rate);
    if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) throw new GatewayError('GW_USAGE', `--rate "${options.rate}": expected events per second, a number above 0`);
  }
  if (options.toTopic !== undefined && !/^[a-zA-Z0-9._-]{1,249}$/.test(options.toTopic)) {
    throw new GatewayError('GW_USAGE', `--to-topic "${options.toTopic}": a Kafka topic name has 1-249 characters from a-z A-Z 0-9 . _ -`);
  }
  const brokers = options.brokers !== undefined ? parseBrokers(options.brokers) : config.kafka.brokers;

  const events = openBufferReadOnly(config.buffer.path);
  const logger = createLogger('warn', process.stderr);
  const transport = options.dryRun
    ? undefined
    : await createKafkaTransport(config.kafka, logger, { brokers, clientId: `${config.kafka.clientId}-replay` });
  // The same value format and Connect copies as the gateway (schema ids are found in the registry, not added).
  const recordFormat = options.dryRun ? undefined : createRecordFormat({ kafka: config.kafka, logger });
  const progress = process.stderr.isTTY ? new TerminalProgress(process.stderr, clock) : new PlainProgress(process.stderr, clock);
  const replayer = new Replayer(
    events,
    transport,
    {
      gatewayId: config.gateway.id,
      topics: config.kafka.topics,
      ...(options.toTopic !== undefined ? { toTopic: options.toTopic } : {}),
      ...(ratePerSec !== undefined ? { ratePerSec } : {}),
      maxEvents: config.kafka.batch.maxEvents,
      maxBytes: config.kafka.batch.maxBytes,
      cloudEvents: config.kafka.cloudEvents,
      dryRun: options.dryRun === true,
      attempts: 5,
      retryInitialMs: Math.max(200, config.kafka.retry.initial),
      retryMaxMs: Math.max(200, config.kafka.retry.max),
      ...(recordFormat ? { recordFormat } : {}),
      clock,
    },
    progress,
  );
  try {
    const summary = await replayer.run(filter);
    process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  } finally {
    events.close();
  }
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      `Re-send events kept in the buffer (delivered or not, within buffer.retention) to Kafka with their original ids, keys and headers plus the header ${REPLAYED_HEADER}: "1"; reads the buffer read-only, safe while the gateway runs`,
    )
    .requiredOption('-c, --config <file>', 'gateway YAML config (buffer.path, kafka.*)')
    .option('--since <time>', 'events received at or after this time: ISO time, or a duration meaning that long ago (2h, 30m, 7d)')
    .option('--until <time>', 'events received before this time: ISO time or a duration meaning that long ago')
    .option('--device <id>', 'only this device (repeatable, or comma-separated)', collect, [])
    .option('--type <type>', `only this event type (repeatable): ${EVENT_TYPES.join(', ')}`, collect, [])
    .option('--to-topic <name>', 'send every event to this topic instead of the per-family topics')
    .option('--rate <n>', 'at most n events per second')
    .option('--dry-run', 'count what would be sent, per topic and type; send nothing')
    .option('--brokers <list>', 'host:port[,host:port...] instead of kafka.brokers from the config')
    .option('--json', 'print the summary as one JSON object')
    .action(replay);
}
