/**
 * The buffer file as both the writer (SqliteBuffer) and the read-only reader (BufferReader) see it: its format
 * number, kept in its `meta` table (key 'format'), with the one check of it they both make (a file of a format this
 * version does not know, written by a newer gateway, is refused rather than read or written on a guess), and its
 * size on disk.
 */
import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { GatewayError } from '../errors.js';

/**
 * 3: the pending count, pending bytes and retained bytes are kept in meta (key 'totals'), written inside every
 * transaction that changes them, so opening a buffer reads one row instead of scanning every event (start-up
 * in O(1) of the backlog). A format-2 file is migrated on open: one scan, then the totals are kept.
 */
export const BUFFER_FORMAT = '3';
/** Formats this version reads as they are (their `events` table is the same) and the writer migrates in place. */
export const MIGRATABLE_FORMATS: readonly string[] = ['2'];

/**
 * The format the file records (undefined: a file the writer has not finished creating); throws GW_BUFFER_OPEN for
 * a format this version does not read, with `advice` saying what the caller's user can do about it.
 */
export function checkBufferFormat(db: Database.Database, path: string, advice: string): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'format'").get() as { value: string } | undefined;
  if (row !== undefined && row.value !== BUFFER_FORMAT && !MIGRATABLE_FORMATS.includes(row.value)) {
    throw new GatewayError('GW_BUFFER_OPEN', `${path} has buffer format ${row.value}, this version reads ${BUFFER_FORMAT}; ${advice}`);
  }
  return row?.value;
}

/** Size of one file in bytes; 0 for one that is not there (no WAL yet). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Size on disk of the buffer: the database file plus its WAL and shared-memory files. */
export function bufferFileSizes(path: string): { db: number; wal: number; shm: number } {
  return { db: fileSize(path), wal: fileSize(`${path}-wal`), shm: fileSize(`${path}-shm`) };
}
