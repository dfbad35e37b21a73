/**
 * Property-based fuzzing of every decoder that takes bytes from devices: the MQTT JSON mapping, the MQTT format
 * drivers, the serial framing + decoding of each shipped serial driver, and Modbus response decoding of each
 * shipped register map. 100,000 inputs each (random bytes, random JSON, and mutations of real payloads from the
 * golden cases) against ONE long-lived decoder instance, so per-device state is exercised too.
 * Properties: nothing throws; every draft is well formed; undecodable input becomes dead letters; held bytes and
 * retained heap stay bounded. Deterministic: a fixed seed per decoder (a failure prints it with the shrunk input).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MqttSubscription } from '../src/config/schema.js';
import { SHIPPED_DRIVERS_DIR, driverSearchPaths, loadDriverFile } from '../src/drivers/driver-files.js';
import type { EventDraft } from '../src/events/schema.js';
import { ModbusDevice } from '../src/inputs/modbus/config.js';
import { ModbusDriverSchema } from '../src/inputs/modbus/driver.js';
import { planDevice } from '../src/inputs/modbus/planner.js';
import { readingsFromResponse } from '../src/inputs/modbus/readings.js';
import { compileRoutes, routeMessage, type Route } from '../src/inputs/mqtt/router.js';
import { SerialDecoder } from '../src/inputs/serial/decoder.js';
import { SerialDriver } from '../src/inputs/serial/driver.js';
import { MAX_DEVICE_ID_LENGTH, sanitizeDeviceId } from '../src/util/device-id.js';
import { parseGoldenInput, SHIPPED_DEVICES } from './support/mqtt-golden.js';

const RUNS = 100_000;
/** Heap a decoder may keep after 100,000 inputs (its bounded per-device state included). */
const MAX_RETAINED_HEAP = 48 * 1024 * 1024;
const DRAFT_TYPES = new Set(['reading', 'alarm', 'device-status', 'gap', 'dead-letter']);
const CASES = join(import.meta.dirname, 'cases');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const SLICES = 20;

/**
 * Runs `property` RUNS times and returns how much heap stayed retained (the decoder is still referenced). The runs
 * go in slices (seeds seed, seed+1, …) with a yield between them, so the test worker keeps answering vitest.
 */
async function fuzz<T>(name: string, arbitrary: fc.Arbitrary<T>, property: (input: T) => void, seed: number): Promise<number> {
  const before = heapAfterGc();
  for (let slice = 0; slice < SLICES; slice += 1) {
    fc.assert(
      fc.property(arbitrary, (input) => {
        property(input);
      }),
      { numRuns: RUNS / SLICES, seed: seed * 100 + slice },
    );
    await new Promise((resolve) => setImmediate(resolve));
  }
  const retained = heapAfterGc() - before;
  console.log(`[fuzz] ${name}: ${RUNS} inputs, retained heap ${(retained / 1024 / 1024).toFixed(1)} MiB`);
  return retained;
}

/** A check in the hot loop (vitest's expect costs more than the decoders); fast-check reports the input. */
function ensure(condition: boolean, what: string): void {
  if (!condition) throw new Error(`property violated: ${what}`);
}

function checkDraft(d: EventDraft, payloadBytes: number, deadLetterBytes: number): void {
  ensure(DRAFT_TYPES.has(d.type), `draft type ${d.type}`);
  ensure(typeof d.deviceId === 'string', 'deviceId is a string');
  ensure(typeof d.receivedAt === 'string', 'receivedAt is a string');
  if (d.type === 'dead-letter') {
    ensure(d.payloadBytes === payloadBytes, `dead letter payloadBytes ${d.payloadBytes} = ${payloadBytes}`);
    ensure(d.payloadBase64.length <= Math.ceil(deadLetterBytes / 3) * 4, 'dead letter keeps at most deadLetterBytes');
    ensure(d.reason.length > 0, 'dead letter has a reason');
  }
  if (d.type === 'reading' && typeof d.value === 'number') ensure(Number.isFinite(d.value), `finite reading value ${d.value}`);
}

/** Random bytes, random JSON text, or a real payload cut, flipped and spliced with random bytes. */
function payloads(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 16 }), fc.boolean())
    .map(([seed, a, b, insert, truncate]) => {
      const bytes = Buffer.from(seed);
      if (bytes.length === 0) return Buffer.from(insert);
      const at = a % bytes.length;
      bytes[at] = (bytes[at] ?? 0) ^ (1 << (b % 8));
      const cut = truncate ? bytes.subarray(0, b % (bytes.length + 1)) : bytes;
      return Buffer.concat([cut.subarray(0, at), Buffer.from(insert), cut.subarray(at)]);
    });
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 2 }).map((s) => Buffer.from(s)) },
    { weight: 4, arbitrary: mutated },
  );
}

/** A topic level: anything a publisher can send, control characters and very long ones included. */
const topicLevel = fc.oneof(
  fc.string({ maxLength: 12 }),
  // (no / + # or NUL: those are not allowed in a published topic)
  fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[/+#]/g, '').replaceAll(String.fromCharCode(0), '')),
  fc.constant('x'.repeat(300)),
);

/** Topics matching a filter: wildcards filled with random levels. */
function topicsFor(filter: string): fc.Arbitrary<string> {
  const parts = filter.split('/').map((level) => {
    if (level === '+') return topicLevel;
    if (level === '#') return fc.array(topicLevel, { minLength: 0, maxLength: 4 }).map((ls) => ls.join('/'));
    return fc.constant(level);
  });
  return fc.tuple(...parts).map((levels) => levels.filter((l, i) => !(i === levels.length - 1 && l === '' && filter.endsWith('#'))).join('/'));
}

/** Bytes of a golden `input.hex`: hex pairs per line, `#` comments, a label after the bytes. */
function hexBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (const raw of text.split('\n')) {
    for (const token of (raw.split('#')[0] ?? '').trim().split(/\s+/)) {
      if (!/^[0-9A-Fa-f]{2}$/.test(token)) break;
      bytes.push(parseInt(token, 16));
    }
  }
  return Buffer.from(bytes);
}

const ctx = (receivedAt: string) => ({ inputName: 'fuzz', receivedAt, maxPayloadBytes: 4096, deadLetterBytes: 512 });

describe('fuzzing the MQTT decoders (100,000 inputs each)', () => {
  it('JSON mapping: every message gives drafts, invalid JSON a dead letter, device ids come out sanitized', async () => {
    const sub = MqttSubscription.parse({
      topic: 'plant/+/sensors/#',
      deviceId: '{1}',
      timestamp: { field: 'time', format: 'auto' },
      metrics: [
        { field: 'temperature', metric: 'temperature', unit: 'Cel' },
        { field: 'sensors.AM2301.Humidity', metric: 'humidity', unit: '%', scale: 0.1 },
        { field: 'state', metric: 'state', type: 'boolean' },
        { field: 'values[2]', metric: 'third', type: 'string' },
      ],
    });
    const routes = compileRoutes([sub], { configDir: CASES, driverSearchPaths: [SHIPPED_DEVICES] });
    const seeds = [
      '{"temperature":21.5,"sensors":{"AM2301":{"Humidity":455}},"state":"ON","values":[1,2,"x"],"time":1764237600000}',
      '{"temperature":"21.5","time":"2026-11-27T10:00:00Z"}',
      '{"sensors":{"AM2301":{}},"state":true}',
    ].map((s) => Buffer.from(s));
    let deadLetters = 0;
    const retained = await fuzz(
      'mqtt json mapping',
      fc.tuple(topicsFor('plant/+/sensors/#'), payloads(seeds)),
      ([topic, payload]) => {
        const { drafts } = routeMessage(routes, topic, payload, ctx('2026-11-27T10:00:00.000Z'));
        ensure(drafts.length > 0, 'every message gives drafts');
        let json = true;
        try {
          JSON.parse(payload.toString('utf8'));
        } catch {
          json = false;
        }
        if (!json) ensure(drafts.some((d) => d.type === 'dead-letter'), 'invalid JSON gives a dead letter');
        for (const d of drafts) {
          checkDraft(d, payload.length, 512);
          if (d.type === 'dead-letter') deadLetters += 1;
          ensure(d.deviceId === sanitizeDeviceId(d.deviceId), `device id ${JSON.stringify(d.deviceId)} is sanitized`);
          ensure(d.deviceId.length <= MAX_DEVICE_ID_LENGTH, 'device id length capped');
          // eslint-disable-next-line no-control-regex
          ensure(!/[\u0000-\u001f\u007f]/.test(d.deviceId), 'no control characters in device ids');
        }
      },
      0x5ec0001,
    );
    expect(deadLetters).toBeGreaterThan(RUNS / 10);
    expect(retained).toBeLessThan(MAX_RETAINED_HEAP);
  });

  const formats = readdirSync(join(CASES, 'mqtt')).sort();
  for (const format of formats) {
    it(`${format} driver: no exception, well-formed drafts, garbage dead-lettered, bounded state`, async () => {
      const caseDirs = readdirSync(join(CASES, 'mqtt', format)).map((c) => join(CASES, 'mqtt', format, c));
      const seedMessages = caseDirs.flatMap((dir) => parseGoldenInput(readFileSync(join(dir, 'input'), 'utf8')));
      const sub = MqttSubscription.parse({ driver: format });
      const routes: Route[] = compileRoutes([sub], { configDir: CASES, driverSearchPaths: [SHIPPED_DEVICES] });
      const route = routes[0];
      if (route?.kind !== 'driver') throw new Error(`${format}: expected a driver route`);
      const topics = fc.oneof(
        fc.constantFrom(...seedMessages.map((m) => m.topic)),
        ...route.filters.map((f) => topicsFor(f.filter)),
      );
      const seeds = seedMessages.map((m) => m.payload);
      let deadLetters = 0;
      let drafts = 0;
      let n = 0;
      const retained = await fuzz(
        `mqtt ${format}`,
        fc.tuple(topics, payloads(seeds)),
        ([topic, payload]) => {
          n += 1;
          const result = routeMessage(routes, topic, payload, ctx(new Date(Date.UTC(2026, 10, 27, 10) + n * 1000).toISOString()));
          for (const d of result.drafts) {
            checkDraft(d, payload.length, 512);
            ensure(d.deviceId === sanitizeDeviceId(d.deviceId), `device id ${JSON.stringify(d.deviceId)} is sanitized`);
            drafts += 1;
            if (d.type === 'dead-letter') deadLetters += 1;
          }
          for (const s of result.subscribe) ensure(typeof s.filter === 'string' && s.filter.length > 0, 'subscribe filters are topics');
        },
        0x5ec0100 + formats.indexOf(format),
      );
      console.log(`[fuzz] mqtt ${format}: ${drafts} drafts, ${deadLetters} dead letters`);
      expect(deadLetters).toBeGreaterThan(0);
      expect(retained).toBeLessThan(MAX_RETAINED_HEAP);
    });
  }
});

describe('fuzzing the serial decoders (100,000 chunks each, one stream per driver)', () => {
  const caseDirs = readdirSync(join(CASES, 'serial')).map((c) => join(CASES, 'serial', c));
  const byDriver = new Map<string, Buffer[]>();
  for (const dir of caseDirs) {
    const { driver } = parse(readFileSync(join(dir, 'config.yaml'), 'utf8')) as { driver: string };
    const input = readdirSync(dir).find((f) => f.startsWith('input'));
    if (input === undefined) continue;
    const bytes = input === 'input.hex' ? hexBytes(readFileSync(join(dir, input), 'utf8')) : readFileSync(join(dir, input));
    // Cut into record-sized pieces: mutations then hit the framing (starts, lengths, checksums) of real records.
    const pieces = byDriver.get(driver) ?? [];
    for (let i = 0; i < bytes.length; i += 64) pieces.push(bytes.subarray(i, i + 64));
    byDriver.set(driver, pieces);
  }
  const serialDrivers = readdirSync(SHIPPED_DRIVERS_DIR)
    .filter((f) => f.endsWith('.yaml') && /^kind:\s*serial/m.test(readFileSync(join(SHIPPED_DRIVERS_DIR, f), 'utf8')))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();

  it('there is a serial driver to fuzz', () => {
    expect(serialDrivers.length).toBeGreaterThan(0);
  });

  for (const name of serialDrivers) {
    it(`${name}: no exception, well-formed drafts, garbage dead-lettered, held bytes and heap bounded`, async () => {
      const { driver } = loadDriverFile(name, SerialDriver, [SHIPPED_DRIVERS_DIR], CASES);
      const decoder = new SerialDecoder(driver, { deviceId: 'fuzz-1', inputName: 'fuzz', source: '/dev/ttyFUZZ', timezone: 'UTC', deadLetterBytes: 256 });
      const seeds = byDriver.get(name) ?? [Buffer.from('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n')];
      let now = Date.UTC(2026, 10, 27, 10);
      let maxHeld = 0;
      const retained = await fuzz(
        `serial ${name}`,
        fc.tuple(payloads(seeds), fc.boolean()),
        ([chunk, drain]) => {
          now += 100;
          const drafts = decoder.push(chunk, now);
          if (drain) drafts.push(...decoder.drain(now));
          for (const d of drafts) {
            checkDraft(d, d.type === 'dead-letter' ? d.payloadBytes : chunk.length, 256);
            ensure(d.deviceId === 'fuzz-1', 'serial device id is the configured one');
          }
          maxHeld = Math.max(maxHeld, decoder.heldBytes());
        },
        0x5ec0200 + serialDrivers.indexOf(name),
      );
      console.log(`[fuzz] serial ${name}: ${JSON.stringify(decoder.stats)}, most bytes held ${maxHeld}`);
      expect(decoder.stats.deadLetters).toBeGreaterThan(0);
      expect(maxHeld).toBeLessThanOrEqual(128 * 1024);
      expect(retained).toBeLessThan(MAX_RETAINED_HEAP);
    });
  }
});

describe('fuzzing Modbus response decoding (100,000 responses per register map)', () => {
  const modbusDrivers = readdirSync(SHIPPED_DRIVERS_DIR)
    .filter((f) => f.endsWith('.yaml') && /^kind:\s*modbus/m.test(readFileSync(join(SHIPPED_DRIVERS_DIR, f), 'utf8')))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();

  for (const name of modbusDrivers) {
    it(`${name}: any response (short, long, out-of-range words) gives one reading per register, bad quality when unusable`, async () => {
      const device = ModbusDevice.parse({ id: 'fuzz-meter', driver: name });
      const { driver } = loadDriverFile(device.driver, ModbusDriverSchema, driverSearchPaths(CASES), CASES);
      const plan = planDevice(driver, device);
      const requests = plan.groups.flatMap((g) => g.requests);
      expect(requests.length).toBeGreaterThan(0);
      const word = fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
        { weight: 1, arbitrary: fc.integer() },
        { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -1, 0x10000, 1.5) },
        { weight: 1, arbitrary: fc.boolean() },
      );
      const response = fc.nat({ max: requests.length - 1 }).chain((i) => {
        const request = requests[i];
        if (request === undefined) throw new Error('no request');
        return fc.tuple(fc.constant(request), fc.array(word, { minLength: 0, maxLength: request.count + 4 }));
      });
      let bad = 0;
      const retained = await fuzz(
        `modbus ${name}`,
        response,
        ([request, data]) => {
          const readings = readingsFromResponse(request, data, { deviceId: device.id, receivedAt: '2026-11-27T10:00:00.000Z', source: 'fuzz' });
          ensure(readings.length === request.registers.length, 'one reading per register');
          for (const r of readings) {
            checkDraft(r, 0, 0);
            if (r.quality === 'bad') bad += 1;
            ensure((r.quality === 'bad') === (r.value === null), `value null exactly when quality is bad (${r.metric}: ${String(r.value)} ${r.quality})`);
          }
        },
        0x5ec0300 + modbusDrivers.indexOf(name),
      );
      expect(bad).toBeGreaterThan(0);
      expect(retained).toBeLessThan(MAX_RETAINED_HEAP);
    });
  }
});
