import type { Command } from 'commander';
import { openBufferReadOnly } from '../buffer/reader.js';
import { loadConfig } from '../config/load.js';
import { formatDuration } from '../replay/progress.js';
import { readBufferReport, type BufferReport } from '../replay/buffer-stats.js';
import { systemClock } from '../util/clock.js';

const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export function formatBufferReport(r: BufferReport): string {
  const lines = [`buffer ${r.path}`, `pending: ${r.pending.total}`];
  for (const p of r.pending.byPriority) {
    const types = Object.entries(p.types)
      .map(([type, n]) => `${type} ${n}`)
      .join(', ');
    lines.push(`  priority ${p.priority}: ${p.count} (${types})`);
  }
  for (const [topic, n] of Object.entries(r.pending.byTopic)) lines.push(`  topic ${topic}: ${n}`);
  lines.push(
    r.pending.oldestAgeMs === null
      ? '  oldest pending: none'
      : `  oldest pending: ${formatDuration(r.pending.oldestAgeMs)} old (received ${r.pending.oldestReceivedAt})`,
  );
  lines.push(
    `retained (delivered, kept for replay): ${r.retained.count}` +
      (r.retained.count > 0 ? ` from ${r.retained.oldestReceivedAt} to ${r.retained.newestReceivedAt}` : ''),
  );
  lines.push(`file size: ${mib(r.files.total)} (db ${mib(r.files.db)}, wal ${mib(r.files.wal)}, shm ${mib(r.files.shm)})`);
  return `${lines.join('\n')}\n`;
}

function stats(options: { config: string; json?: boolean }): void {
  const { config } = loadConfig(options.config);
  const reader = openBufferReadOnly(config.buffer.path);
  try {
    const report = readBufferReport(reader, config.buffer.path, config.kafka.topics, systemClock.now());
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatBufferReport(report));
  } finally {
    reader.close();
  }
}

export function registerBuffer(program: Command): void {
  const buffer = program.command('buffer').description('Inspect the SQLite buffer (read-only; safe while the gateway runs)');
  buffer
    .command('stats')
    .description('Pending events per priority and per topic, age of the oldest pending event, retained (delivered) events and their time span, file size (db + WAL)')
    .requiredOption('-c, --config <file>', 'gateway YAML config (buffer.path, kafka.topics)')
    .option('--json', 'print the figures as JSON')
    .action(stats);
}
