/**
 * The serial input against real pseudo-terminals (socat), fed by the serial simulator: a stream started
 * mid-frame, unplug (the pty disappears) and replug (recreated at the same path) with offline/online events and
 * reading resumed without a restart, scripted values arriving as sent, and the simulator's encoder decoding back
 * to its values. The sink is an in-memory collector (the buffer is tested elsewhere; the e2e test uses it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadDriverFile, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { AlarmEvent, DeviceStatusEvent, EventDraft, ReadingEvent } from '../src/events/schema.js';
import type { IngestSink } from '../src/inputs/input.js';
import { SerialInputConfig } from '../src/inputs/serial/config.js';
import { SerialDecoder } from '../src/inputs/serial/decoder.js';
import { SerialDriver } from '../src/inputs/serial/driver.js';
import { SerialInput } from '../src/inputs/serial/serial-input.js';
import { fillTemplate, SerialRecordEncoder, startSerialSimulator, type SerialSimulator, type SimulatedValues } from '../src/simulators/serial.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { waitFor } from './support/wait.js';
import { noReceipts } from './support/receipts.js';

type Reading = Omit<ReadingEvent, 'schemaVersion' | 'id' | 'gatewayId' | 'seq'>;
type Status = Omit<DeviceStatusEvent, 'schemaVersion' | 'id' | 'gatewayId' | 'seq'>;
type Alarm = Omit<AlarmEvent, 'schemaVersion' | 'id' | 'gatewayId' | 'seq'>;

class CollectingSink implements IngestSink {
  readonly drafts: EventDraft[] = [];
  async append(drafts: readonly EventDraft[]): Promise<void> {
    this.drafts.push(...drafts);
  }
  flush(): void {}
  get readings(): Reading[] {
    return this.drafts.filter((d): d is Reading => d.type === 'reading');
  }
  get statuses(): Status[] {
    return this.drafts.filter((d): d is Status => d.type === 'device-status');
  }
  get alarms(): Alarm[] {
    return this.drafts.filter((d): d is Alarm => d.type === 'alarm');
  }
  get deadLetters(): EventDraft[] {
    return this.drafts.filter((d) => d.type === 'dead-letter');
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function simulator(options: Parameters<typeof startSerialSimulator>[0]): Promise<SerialSimulator> {
  const sim = await startSerialSimulator({ configDir: SHIPPED_DRIVERS_DIR, ...options });
  cleanups.push(() => sim.stop());
  return sim;
}

async function input(port: string, driver: string, sink: IngestSink, extra: Record<string, unknown> = {}): Promise<SerialInput> {
  const config = SerialInputConfig.parse({ type: 'serial', name: 'pty', port, driver, deviceId: 'dev-1', reopen: { initial: '100ms', max: '500ms' }, ...extra });
  const serial = new SerialInput(config, {
    gatewayId: 'gw',
    sink,
    receipts: noReceipts,
    logger: createLogger('silent'),
    clock: systemClock,
    configDir: SHIPPED_DRIVERS_DIR,
    driverSearchPaths: [SHIPPED_DRIVERS_DIR],
  });
  await serial.start();
  cleanups.push(() => serial.stop());
  return serial;
}

describe('simulator encoder → decoder round trip (pure)', () => {
  it.each(['pulse-oximeter-ascii', 'pulse-oximeter-df2', 'nmea-gps'])('%s: values sent are the values decoded, sentinels become bad', (name) => {
    const driver = loadDriverFile(name, SerialDriver, [SHIPPED_DRIVERS_DIR], SHIPPED_DRIVERS_DIR).driver;
    const encoder = new SerialRecordEncoder(driver);
    const decoder = new SerialDecoder(driver, { deviceId: 'd', inputName: 'i', source: 's', timezone: 'UTC', deadLetterBytes: 64 });
    const sent: SimulatedValues[] = [
      { spo2: 97, hr: 72, pi: 3.25, alarm: 0, exc: 0x800, lat: 5230.1234, lon: 1327.5, altitude: 61.2, satellites: 9, speedKnots: 1.5, rev: 48 },
      { spo2: 84, hr: 131, pi: 0.9, alarm: 0x02, exc: 0x800, lat: 5230.2, lon: 1327.6, altitude: 61.3, satellites: 8, speedKnots: 1.5, rev: 48 },
      { spo2: null, hr: null, pi: null, alarm: 0, exc: 0x820, lat: 5230.2, lon: 1327.6, altitude: 61.3, satellites: 8, speedKnots: 0, rev: 48 },
    ];
    const at = Date.parse('2026-11-27T10:00:00Z');
    const drafts = sent.flatMap((v, i) => decoder.push(Buffer.concat(encoder.encode(v, at + i * 1000)), at + i * 1000));
    expect(drafts.filter((d) => d.type === 'dead-letter')).toEqual([]);
    const value = (metric: string, n: number): unknown => drafts.filter((d): d is Reading => d.type === 'reading' && d.metric === metric)[n]?.value;
    if (name === 'nmea-gps') {
      expect(value('latitude', 0)).toBeCloseTo(52 + 30.1234 / 60, 6);
      expect(value('speed', 0)).toBe(0.772);
      expect(value('satellites', 1)).toBe(8);
      return;
    }
    expect([value('spo2', 0), value('spo2', 1), value('spo2', 2)]).toEqual([97, 84, null]);
    expect([value('pulse-rate', 0), value('pulse-rate', 1), value('pulse-rate', 2)]).toEqual([72, 131, null]);
    if (name === 'pulse-oximeter-ascii') {
      expect(value('perfusion-index', 0)).toBe(3.25);
      const alarms = drafts.filter((d): d is Alarm => d.type === 'alarm').map((a) => `${a.alarm} ${a.state} ${String(a.value)}`);
      expect(alarms).toEqual(['spo2-low active 84', 'spo2-low cleared null', 'sensor-off active undefined']);
    }
  });

  it('fills templates: zero padding, decimals, hex, dates, sentinels', () => {
    const at = Date.parse('2026-03-29T01:00:05.250Z');
    expect(fillTemplate('{a:03} {b:05.2} {c:x04} {d} {date:MM/DD/YY HH:mm:ss} {date:HHmmss.SS}', { a: 7, b: 3.6, c: 0x802, d: null }, '---', at, 'Europe/Berlin')).toBe(
      '007 03.60 0802 --- 03/29/26 03:00:05 030005.25',
    );
  });
});

describe('serial input on a pseudo-terminal', () => {
  it('starts mid-frame on a binary stream: resynchronizes, reads whole packets only, dead-letters the rest', async () => {
    const sink = new CollectingSink();
    // Opening a port discards what arrived before (serialport flushes the input queue on open): the device starts
    // talking, with the cut first record, only once the input reports the port open. (Before, under load, the open
    // often came after the cut record, which was then flushed unseen: no dead letter, and the test failed.)
    const sim = await simulator({ driver: 'pulse-oximeter-df2', faults: ['partial-first-record'], silent: true, script: [{ spo2: 95, hr: 301 }, { spo2: 96, hr: 302 }, { spo2: 97, hr: 303 }] });
    await input(sim.path, 'pulse-oximeter-df2', sink);
    await waitFor('the port open', () => sink.statuses.some((s) => s.status === 'online'));
    expect(sim.recordsSent).toBe(0);
    sim.setSilent(false);
    await sim.scriptDone;
    await waitFor('readings of the scripted packets', () => sink.readings.filter((r) => r.metric === 'pulse-rate').length >= 2);
    // The first packet was cut: never emitted half-decoded. The next ones arrive exactly as scripted.
    const rates = sink.readings.filter((r) => r.metric === 'pulse-rate').map((r) => r.value);
    expect(rates.slice(0, 2)).toEqual([302, 303]);
    // The cut packet is reported as a dead letter with its bytes, never decoded.
    await waitFor('the dead letter of the cut packet', () => sink.deadLetters.length > 0);
    expect(sink.deadLetters[0]).toMatchObject({ reason: expect.stringMatching(/packet|frame|record/) });
    expect(sink.statuses[0]).toMatchObject({ status: 'online', previous: 'unknown' });
  });

  it('unplug → offline, replug at the same path → online and reading again, no restart; nothing half-parsed', async () => {
    const sink = new CollectingSink();
    const sim = await simulator({ driver: 'pulse-oximeter-ascii', recordsPerSecond: 10 });
    const serial = await input(sim.path, 'pulse-oximeter-ascii', sink);
    await waitFor('first readings', () => sink.readings.length >= 10);
    expect(serial.connection()).toMatchObject({ state: 'connected', endpoint: `${sim.path} 9600 8N1, no flow control`, detail: 'port open · reopened 0×' });
    await sim.unplug();
    await waitFor('offline status', () => sink.statuses.find((s) => s.status === 'offline'));
    // The status page's connection and the metrics say the port is gone and is being reopened.
    expect(serial.connection()).toMatchObject({ state: 'disconnected', detail: 'disappeared (device unplugged?) · retrying · reopened 0×' });
    expect(serial.metrics().find((m) => m.name === 'serial_port_open')?.value).toBe(0);
    const offline = sink.statuses.find((s) => s.status === 'offline');
    expect(offline).toMatchObject({ previous: 'online', deviceId: 'dev-1' });
    expect(offline?.reason).toContain('disappeared');
    const readingsWhileUnplugged = sink.readings.length;

    // How fast is a figure for a quiet machine (reopen.max is 500 ms here), not an assertion of a loaded one.
    await sim.replug();
    await waitFor('online again', () => sink.statuses.filter((s) => s.status === 'online').length >= 2);
    await waitFor('readings after replug', () => sink.readings.length >= readingsWhileUnplugged + 10);
    expect(sink.statuses.map((s) => `${s.previous}→${s.status}`)).toEqual(['unknown→online', 'online→offline', 'offline→online']);
    expect(serial.connection()).toMatchObject({ state: 'connected', detail: 'port open · reopened 1×' });
    const figure = (name: string): number | undefined => serial.metrics().find((m) => m.name === name)?.value;
    expect([figure('serial_port_open'), figure('serial_port_opens_total'), figure('serial_port_closes_total'), figure('serial_port_reopens_total')]).toEqual([1, 2, 1, 1]);
    // Every reading is from a whole record: each record yields its spo2 and pulse-rate with the same device time.
    const spo2Times = sink.readings.filter((r) => r.metric === 'spo2').map((r) => r.sourceTime);
    const rateTimes = sink.readings.filter((r) => r.metric === 'pulse-rate').map((r) => r.sourceTime);
    expect(rateTimes).toEqual(spo2Times);
    for (const d of sink.deadLetters) expect(d).toMatchObject({ reason: expect.stringMatching(/when the port closed|mid-record|prefix/) });
  });

  it('reports the port missing at start as offline and picks it up when it appears', async () => {
    const sink = new CollectingSink();
    const sim = await simulator({ driver: 'nmea-gps', recordsPerSecond: 10 });
    await sim.unplug();
    await input(sim.path, 'nmea-gps', sink);
    await waitFor('offline at start', () => sink.statuses[0]);
    expect(sink.statuses[0]).toMatchObject({ status: 'offline', previous: 'unknown', reason: expect.stringContaining('cannot open') });
    await sim.replug();
    await waitFor('readings', () => sink.readings.some((r) => r.metric === 'latitude' && r.quality === 'good'));
    expect(sink.statuses.map((s) => s.status)).toEqual(['offline', 'online']);
  });

  it('a device that goes quiet with the port open is degraded after silenceTimeout, online again with data', async () => {
    const sink = new CollectingSink();
    const sim = await simulator({ driver: 'pulse-oximeter-ascii', recordsPerSecond: 20 });
    await input(sim.path, 'pulse-oximeter-ascii', sink, { silenceTimeout: '1s' });
    await waitFor('readings', () => sink.readings.length > 0);
    expect(sink.statuses[0]).toMatchObject({ previous: 'unknown', status: 'online' });
    // A loaded machine may stall the stream for a second by itself (a real degraded spell); what this test owns
    // starts here.
    const quiet = sink.statuses.length;
    sim.setSilent(true);
    await waitFor('degraded', () => sink.statuses.slice(quiet).find((s) => s.status === 'degraded'));
    expect(sink.statuses.slice(quiet).find((s) => s.status === 'degraded')?.reason).toMatch(/^no data for \d+(\.\d)? s with the port open$/);
    sim.setSilent(false);
    await waitFor('online again', () => sink.statuses.slice(quiet).some((s) => s.status === 'online'));
    expect(sink.statuses.slice(quiet).map((s) => `${s.previous}→${s.status}: ${s.reason.split(' ')[0] ?? ''}`)).toEqual(['online→degraded: no', 'degraded→online: data']);
  });

  it('a scripted desaturation episode arrives as scripted, with its alarm transitions', async () => {
    const sink = new CollectingSink();
    const episode: SimulatedValues[] = [
      { spo2: 97, hr: 74, alarm: 0 },
      { spo2: 91, hr: 88, alarm: 0 },
      { spo2: 86, hr: 104, alarm: 0x02 },
      { spo2: 83, hr: 112, alarm: 0x02 },
      { spo2: 92, hr: 90, alarm: 0 },
    ];
    const sim = await simulator({ driver: 'pulse-oximeter-ascii', recordsPerSecond: 20 });
    await input(sim.path, 'pulse-oximeter-ascii', sink);
    // Play once the gateway has the port open (as a test through the whole gateway waits for device-status online).
    await waitFor('online', () => sink.statuses.find((s) => s.status === 'online'));
    await waitFor('a first whole record', () => sink.readings.length > 0);
    await sim.play(episode);
    await waitFor('episode end', () => sink.readings.some((r) => r.metric === 'spo2' && r.value === 92));
    const spo2 = sink.readings.filter((r) => r.metric === 'spo2').map((r) => r.value);
    const rates = sink.readings.filter((r) => r.metric === 'pulse-rate').map((r) => r.value);
    // The random walk stays within 94..99: 91 is the episode's second record.
    const start = spo2.indexOf(91) - 1;
    expect(spo2.slice(start, start + episode.length)).toEqual(episode.map((e) => e.spo2));
    expect(rates.slice(start, start + episode.length)).toEqual(episode.map((e) => e.hr));
    expect(sink.alarms.map((a) => `${a.alarm} ${a.state} ${String(a.value)}`)).toEqual(['spo2-low active 86', 'spo2-low cleared 92']);
    expect(sim.lastValues).toMatchObject({ spo2: 92, hr: 90 });
    expect(sink.readings.find((r) => r.metric === 'spo2')).toMatchObject({ code: 'MDC_PULS_OXIM_SAT_O2', unit: '%', quality: 'good' });
  });
});
