/**
 * Golden cases of the MQTT format drivers (see test/support/mqtt-golden.ts for the case layout).
 * UPDATE_GOLDEN=1 rewrites expected.json from the current output: review the diff before committing it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, TelemetryEventSchema } from '../src/events/schema.js';
import { runGoldenCase } from './support/mqtt-golden.js';
import { MQTT_FORMAT_NAMES } from '../src/inputs/mqtt/formats/registry.js';

const CASES = resolve(import.meta.dirname, 'cases/mqtt');
// Every registered format must have golden cases: adding a format to the registry makes this test ask for them.
const FORMATS = MQTT_FORMAT_NAMES;

describe('MQTT format golden cases', () => {
  it('has cases for every format', () => {
    for (const format of FORMATS) expect(existsSync(join(CASES, format)) ? readdirSync(join(CASES, format)).length : 0, format).toBeGreaterThanOrEqual(2);
  });

  for (const format of FORMATS) {
    const formatDir = join(CASES, format);
    if (!existsSync(formatDir)) continue; // reported by 'has cases for every format'
    for (const name of readdirSync(formatDir).sort()) {
      const dir = join(formatDir, name);
      it(`${format}/${name}`, () => {
        const results = runGoldenCase(dir);
        // Every draft is a valid event once the buffer stamps it.
        for (const r of results) {
          for (const draft of r.events) {
            const stamped = { ...draft, schemaVersion: SCHEMA_VERSION, id: 'golden', gatewayId: 'golden', seq: 0 };
            expect(TelemetryEventSchema.safeParse(stamped).success, JSON.stringify(draft)).toBe(true);
          }
        }
        const expectedFile = join(dir, 'expected.json');
        if (process.env.UPDATE_GOLDEN === '1') writeFileSync(expectedFile, `${JSON.stringify(results, null, 2)}\n`);
        const expected: unknown = JSON.parse(readFileSync(expectedFile, 'utf8'));
        expect(JSON.parse(JSON.stringify(results))).toEqual(expected);
      });
    }
  }
});
