/**
 * Golden cases of the serial decoder: test/cases/serial/<name>/{config.yaml, input | input.hex, expected.json}.
 * `input` is the raw byte stream (lines starting with `#` are comments naming the source and are removed, with
 * their line end, before decoding); `input.hex` lists bytes in hex, `#` starts a comment, and text after the
 * bytes of a line is a label. The stream is fed in `chunkSize`-byte pieces (default: all at once, and again one
 * byte at a time: framing must not depend on how reads are cut), then drained as if the port closed.
 * UPDATE_GOLDEN=1 rewrites expected.json (review the diff before committing).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { EventDraft } from '../src/events/schema.js';
import { SerialDecoder } from '../src/inputs/serial/decoder.js';
import { SerialDriver } from '../src/inputs/serial/driver.js';

const CASES = join(import.meta.dirname, 'cases/serial');

interface CaseConfig {
  driver: string;
  deviceId?: string;
  timezone?: string;
  receivedAt?: string;
  chunkSize?: number;
}

export function readCaseInput(dir: string): Buffer {
  if (existsSync(join(dir, 'input.hex'))) {
    const bytes: number[] = [];
    for (const raw of readFileSync(join(dir, 'input.hex'), 'utf8').split('\n')) {
      const line = raw.split('#')[0] ?? '';
      for (const token of line.trim().split(/\s+/)) {
        if (!/^[0-9A-Fa-f]{2}$/.test(token)) break; // the label after the bytes
        bytes.push(parseInt(token, 16));
      }
    }
    return Buffer.from(bytes);
  }
  const raw = readFileSync(join(dir, 'input'));
  // Remove whole comment lines (# at a line start) with their line end; keep every other byte as it is.
  const kept: Buffer[] = [];
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0x0a, start);
    end = end < 0 ? raw.length : end + 1;
    if (raw[start] !== 0x23) kept.push(raw.subarray(start, end));
    start = end;
  }
  return Buffer.concat(kept);
}

function decode(config: CaseConfig, input: Buffer, chunkSize: number): EventDraft[] {
  const { driver } = loadDriverFile(config.driver, SerialDriver, [SHIPPED_DRIVERS_DIR], CASES);
  const decoder = new SerialDecoder(driver, {
    deviceId: config.deviceId ?? 'dev-1',
    inputName: 'serial-golden',
    source: '/dev/ttyUSB0',
    timezone: config.timezone ?? 'UTC',
    deadLetterBytes: 256,
  });
  const at = Date.parse(config.receivedAt ?? '2026-11-27T10:00:00.000Z');
  const drafts: EventDraft[] = [];
  for (let i = 0; i < input.length; i += chunkSize) drafts.push(...decoder.push(input.subarray(i, i + chunkSize), at));
  drafts.push(...decoder.drain(at));
  return drafts;
}

const names = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('serial golden cases', () => {
  it('has cases for every shipped serial driver', () => {
    const drivers = new Set(names.map((n) => (parse(readFileSync(join(CASES, n, 'config.yaml'), 'utf8')) as CaseConfig).driver));
    expect([...drivers].sort()).toEqual(['nmea-gps', 'pulse-oximeter-ascii', 'pulse-oximeter-df2']);
  });

  for (const name of names) {
    it(name, () => {
      const dir = join(CASES, name);
      const config = parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as CaseConfig;
      const input = readCaseInput(dir);
      const drafts = decode(config, input, config.chunkSize ?? input.length);
      const expectedFile = join(dir, 'expected.json');
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(expectedFile, `${JSON.stringify(drafts, null, 2)}\n`);
      expect(drafts).toEqual(JSON.parse(readFileSync(expectedFile, 'utf8')));
      // Byte-at-a-time reads give the same events: framing does not depend on how the stream is cut.
      expect(decode(config, input, 1)).toEqual(drafts);
    });
  }
});
