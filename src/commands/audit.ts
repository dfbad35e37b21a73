import type { Command } from 'commander';
import { AuditChecker, type AuditReport, type SeqRange } from '../audit/checker.js';
import { readTopicWindow } from '../audit/topic-reader.js';
import { systemClock } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';
import { GatewayError } from '../errors.js';
import { parseTimeArg } from '../replay/time-arg.js';
import { parseBrokers } from './replay.js';
import { kafkaConnectionFromConfig } from './common.js';

interface AuditCliOptions {
  brokers?: string;
  config?: string;
  topic: string;
  since?: string;
  json?: boolean;
  strict?: boolean;
  timeout: string;
}

const ranges = (list: readonly SeqRange[], max = 8): string => {
  const text = list.slice(0, max).map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`));
  if (list.length > max) text.push(`… ${list.length - max} more`);
  return text.join(', ');
};

export function formatAuditReport(topic: string, r: AuditReport): string {
  const lines = [`audit of ${topic}: ${r.records} records, ${r.streams.length} device stream${r.streams.length === 1 ? '' : 's'}`];
  for (const s of r.streams) {
    const problems: string[] = [];
    if (s.missingCount > 0) problems.push(`MISSING ${s.missingCount} (seq ${ranges(s.missing)})`);
    if (s.declaredCount > 0) problems.push(`declared by gap events ${s.declaredCount} (seq ${ranges(s.declared)})`);
    if (s.declaredWithoutRange > 0) problems.push(`declared without a seq range ${s.declaredWithoutRange}`);
    if (s.duplicateIds > 0) problems.push(`duplicate ids ${s.duplicateIds}`);
    if (s.seqConflicts > 0) problems.push(`SEQ REUSED by other ids ${s.seqConflicts}`);
    if (s.outOfOrder > 0) problems.push(`OUT OF ORDER ${s.outOfOrder}`);
    if (s.replayed > 0) problems.push(`replayed ${s.replayed}`);
    lines.push(
      `  ${s.gatewayId}/${s.deviceId} ${s.family}: received ${s.received}, seq ${s.firstSeq}..${s.lastSeq}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`,
    );
  }
  if (r.undecodable.count > 0) lines.push(`  not gateway events: ${r.undecodable.count} (e.g. ${r.undecodable.examples.join('; ')})`);
  const t = r.totals;
  lines.push(
    `${r.complete ? 'OK' : 'FAIL'}: missing undeclared ${t.missing}, declared ${t.declared}, duplicate ids ${t.duplicateIds}, seq reused ${t.seqConflicts}, out of order ${t.outOfOrder}, replayed ${t.replayed}`,
  );
  return `${lines.join('\n')}\n`;
}

async function audit(options: AuditCliOptions): Promise<void> {
  const connection = kafkaConnectionFromConfig(options.config);
  if (options.brokers === undefined && connection.brokers === undefined) {
    throw new GatewayError('GW_USAGE', 'audit needs --brokers host:port[,host:port] or --config FILE (a gateway config)');
  }
  const brokers = options.brokers !== undefined ? parseBrokers(options.brokers) : (connection.brokers ?? []);
  const sinceMs = options.since !== undefined ? parseTimeArg('--since', options.since, systemClock.now()) : undefined;
  const timeoutMs = parseDuration(options.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new GatewayError('GW_USAGE', `--timeout "${options.timeout}": expected a duration such as 10m`);
  const checker = new AuditChecker();
  await readTopicWindow({
    brokers,
    security: connection.security,
    topic: options.topic,
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    timeoutMs,
    onRecord: (record) => checker.add(record),
  });
  const report = checker.report();
  process.stdout.write(options.json ? `${JSON.stringify({ topic: options.topic, ...report }, null, 2)}\n` : formatAuditReport(options.topic, report));
  const failed = options.strict ? !report.clean : !report.complete;
  if (failed) process.exitCode = 2;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'Consumer-side check of a topic: per device the received count, seq ranges missing and not declared by gap events, duplicates, out-of-order records (exit 2 when data is missing undeclared; with --strict also on out-of-order or reused seq)',
    )
    .option('--brokers <list>', 'host:port[,host:port...] (or take them from --config)')
    .option('-c, --config <file>', "a gateway config: use its brokers and TLS/SASL settings (--brokers still wins)")
    .requiredOption('--topic <name>', 'topic to audit (e.g. telemetry.readings)')
    .option('--since <time>', 'start at this time instead of the beginning: ISO time or a duration meaning that long ago (2h)')
    .option('--json', 'print the full report as JSON')
    .option('--strict', 'also fail on out-of-order records and seq values reused by other event ids')
    .option('--timeout <duration>', 'give up when the end of the topic is not reached in this time', '10m')
    .action(audit);
}
