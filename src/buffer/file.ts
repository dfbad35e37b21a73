/**
 * The buffer file as both the writer (SqliteBuffer) and the read-only reader (BufferReader) see it: its format
 * number, kept in its `meta` table (key 'format'), with the one check of it they both make (a file of a format this
 * version does not know, written by a newer gateway, is refused rather than read or written on a guess), and its
 * size on disk.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/**
 * The clean-stop seal: `<buffer>.clean`, written by the writer after it closed the file cleanly (WAL checkpointed
 * and removed), holding what `stat` said of the file then. A start that finds the seal matching the file (same inode,
 * size and modification time, no WAL) knows nothing has written to it since: the start-up integrity check, which
 * reads every page and so grows with the backlog, can be skipped. Any write (a crash mid-commit leaves no seal,
 * since the seal is removed before the first write; a truncation or overwrite changes size or mtime) makes the next
 * start check the file again.
 */
export function cleanSealPath(path: string): string {
  return `${path}.clean`;
}

interface FileIdentity {
  ino: string;
  size: string;
  mtimeNs: string;
}

function identityOf(path: string): FileIdentity | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
  } catch {
    return undefined;
  }
}

/** After a clean close: seals the file when its WAL is gone (everything is in the main file). */
export function writeCleanSeal(path: string): boolean {
  const identity = identityOf(path);
  if (identity === undefined || fileSize(`${path}-wal`) > 0) return false;
  try {
    writeFileSync(cleanSealPath(path), `${JSON.stringify(identity)}\n`, { mode: 0o600 });
    return true;
  } catch {
    return false; // no seal: the next start checks the file, which is only slower
  }
}

/**
 * Before the first write of a start: whether the seal matches the file as it is now. Removes the seal either way,
 * so a start that then crashes leaves the next one to check.
 */
export function takeCleanSeal(path: string): boolean {
  const seal = cleanSealPath(path);
  let recorded: unknown;
  try {
    recorded = JSON.parse(readFileSync(seal, 'utf8'));
  } catch {
    rmSync(seal, { force: true });
    return false;
  }
  rmSync(seal, { force: true });
  const now = identityOf(path);
  const r = recorded as Partial<FileIdentity> | null;
  return now !== undefined && fileSize(`${path}-wal`) === 0 && r !== null && r.ino === now.ino && r.size === now.size && r.mtimeNs === now.mtimeNs;
}
