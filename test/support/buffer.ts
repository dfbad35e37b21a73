import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBuffer, type BufferOptions } from '../../src/buffer/sqlite-buffer.js';

/** Buffer options for a fresh file (or `path: ':memory:'`), generous bounds, no retention, the system clock by default. */
export function testBufferOptions(overrides: Partial<BufferOptions> = {}): BufferOptions {
  return {
    path: join(mkdtempSync(join(tmpdir(), 'etg-test-buffer-')), 'buffer.db'),
    gatewayId: 'gw-test',
    synchronous: 'FULL',
    commitLingerMs: 2,
    maxEventsPerCommit: 5000,
    maxEvents: 1_000_000,
    maxBytes: 1_000_000_000,
    whenFull: 'drop-oldest',
    retentionMs: 0,
    retentionMaxBytes: 0,
    clock: { now: () => Date.now() },
    ...overrides,
  };
}

/** An open buffer with testBufferOptions(overrides). */
export function openTestBuffer(overrides: Partial<BufferOptions> = {}): SqliteBuffer {
  const buffer = new SqliteBuffer(testBufferOptions(overrides));
  buffer.open();
  return buffer;
}
