/**
 * Golden cases of the HL7 input: test/cases/hl7/<name>/{config.yaml, input.txt, expected.json}. The input's bytes
 * (test/support/hl7.ts: `<VT>`/`<FS>`/`<CR>` and CR line ends) go through the MLLP framer, the processor and a
 * real SQLite buffer (in memory) on one connection, with a fixed clock; expected.json holds the committed events
 * (without their random ids) and every ACK in the order it was sent. Fed once whole and once in 7-byte pieces:
 * framing must not depend on how TCP cuts the stream. UPDATE_GOLDEN=1 rewrites expected.json (review the diff).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Hl7InputConfig } from '../src/inputs/hl7/config.js';
import { loadHl7Driver } from '../src/inputs/hl7/driver.js';
import { compileHl7Driver } from '../src/inputs/hl7/mapping.js';
import { Hl7Processor } from '../src/inputs/hl7/processor.js';
import { MllpSession } from '../src/inputs/hl7/session.js';
import { driverSearchPaths } from '../src/drivers/driver-files.js';
import { openTestBuffer } from './support/buffer.js';
import { fixtureFile } from './support/hl7.js';

const CASES = join(import.meta.dirname, 'cases/hl7');
const NOW = Date.parse('2026-11-27T11:00:00.000Z');

interface Outcome {
  events: Record<string, unknown>[];
  acks: string[][];
}

async function run(dir: string, chunkSize: number): Promise<Outcome> {
  const config = Hl7InputConfig.parse(parse(readFileSync(join(dir, 'config.yaml'), 'utf8')));
  const clock = { now: () => NOW };
  const context = { configDir: dir, driverSearchPaths: driverSearchPaths(dir) };
  const { driver } = loadHl7Driver(config.driver, context);
  const buffer = openTestBuffer({ path: ':memory:', gatewayId: 'gw-golden', commitLingerMs: 0, clock });
  const processor = new Hl7Processor(config, compileHl7Driver(driver), { sink: buffer, receipts: buffer, clock, gatewayId: 'gw-golden' });
  const acks: string[] = [];
  const session = new MllpSession(processor, {
    peer: 'mllp 192.0.2.10:40000',
    maxFrameBytes: config.maxFrameBytes,
    keepBytes: config.deadLetterBytes,
    write: (frame) => acks.push(frame.subarray(1, -2).toString('utf8')),
    fail: (err) => {
      throw err;
    },
    observe: () => undefined,
    pause: () => undefined,
    resume: () => undefined,
  });
  const input = fixtureFile(join(dir, 'input.txt'));
  for (let i = 0; i < input.length; i += chunkSize) session.push(input.subarray(i, i + chunkSize));
  session.end();
  await session.idle();
  const events = buffer.readPending(10_000).map((e) => {
    const { id: _id, ...rest } = JSON.parse(e.payload) as Record<string, unknown>;
    return rest;
  });
  buffer.close();
  return { events, acks: acks.map((a) => a.split('\r')) };
}

const names = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('HL7 golden cases', () => {
  for (const name of names) {
    it(name, async () => {
      const dir = join(CASES, name);
      const whole = await run(dir, Number.MAX_SAFE_INTEGER);
      const pieces = await run(dir, 7);
      expect(pieces).toEqual(whole);
      const file = join(dir, 'expected.json');
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${JSON.stringify(whole, null, 2)}\n`);
      expect(existsSync(file), `${file} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(whole).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});
