/**
 * The status page of real gateway processes in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core), in the states an operator meets: idle, under load, a device offline, an active alarm, Kafka
 * down with a backlog — and afterwards the backlog delivered. Inputs are real: MQTT (Mosquitto), Modbus TCP (our
 * simulator), a serial pulse oximeter on a pseudo-terminal, an HL7 MLLP listener. In every state the page's DOM is
 * checked against the buffer file (read with its own read-only connection) and against Kafka (read with kcat):
 * the backlog, what was sent, each device's latest values, the alarms, where the dead letters came from.
 *
 * Screenshots: test-artifacts/status-page/<state>.png; with ETG_UPDATE_DOCS_SCREENSHOTS=1 also docs/status-page/
 * (the pictures of docs/status-page.md).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { freePort } from '../scripts/mosquitto.mjs';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { AlarmEvent, DeviceStatusEvent, ReadingEvent, TelemetryEvent } from '../src/events/schema.js';
import { TopicsConfig } from '../src/config/schema.js';
import { readBufferReport } from '../src/replay/buffer-stats.js';
import { openBufferReadOnly } from '../src/buffer/reader.js';
import { ModbusSimulator } from '../src/simulators/modbus.js';
import { startSerialSimulator, type SerialSimulator } from '../src/simulators/serial.js';
import { GatewayProcess, sensorSubscription, writeTestConfig } from './support/gateway-process.js';
import { fixtureFile, MllpTestClient } from './support/hl7.js';
import { readTopicWithKcat, topicSize } from './support/kafka.js';
import { parseExposition } from './support/prometheus.js';
import { shippedDriver } from './support/modbus.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'status-page');
const DOCS = join(ROOT, 'docs', 'status-page');
const TOPIC_NAMES = ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'];

/** A room sensor's message (the subscription scales humidity by 0.1): plausible values, as the pictures show them. */
function roomSensor(n: number): string {
  return JSON.stringify({ temperature: 20 + (n % 40) / 10, humidity: 420 + (n % 90), time: Date.now() });
}

describe('status page in headless Chromium: idle, under load, a device offline, an active alarm, Kafka down with a backlog', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('status-page');
  const prefix = `${gatewayId}.`;
  const topics = TOPIC_NAMES.map((t) => `${prefix}${t}`);
  const problems: string[] = [];
  let modbus: ModbusSimulator;
  let oximeter: SerialSimulator;
  let publisher: SensorPublisher;
  let browser: BrowserContext;
  let profile: string;
  let page: Page;
  let bufferPath: string;
  const gateways: GatewayProcess[] = [];
  /** What the test did when, printed when it fails. */
  const steps: string[] = [];
  const step = (what: string): void => void steps.push(`${new Date().toISOString()} ${what}`);
  let publishing = false;
  /** While a gateway restarts the page cannot reach it (and says so): those failed requests are expected. */
  let restarting = false;
  const feeders: Promise<void>[] = [];

  /** A gateway config with all four input families; `brokers` differs between the runs, the buffer does not. */
  function config(brokers: string[], httpPort: number): string {
    return writeTestConfig({
      gatewayId,
      brokers,
      mqttUrl,
      topicPrefix: prefix,
      bufferPath,
      overrides: {
        http: { port: httpPort },
        // No heartbeat: in the idle state nothing at all flows, so every figure can be compared exactly.
        health: { interval: 0 },
        shutdown: { drainTimeout: '10s' },
        inputs: [
          {
            type: 'mqtt',
            name: 'site',
            url: mqttUrl,
            clientId: `${gatewayId}-site`,
            reconnect: { initial: '200ms', max: '2s' },
            subscriptions: [
              sensorSubscription(`${gatewayId}/sensors`),
              { topic: `${gatewayId}/ward/spo2`, qos: 1, deviceId: 'ward-monitor', format: 'number', metrics: [{ metric: 'spo2', unit: '%' }] },
            ],
          },
          {
            type: 'modbus',
            name: 'plant',
            transport: { kind: 'tcp', host: '127.0.0.1', port: modbus.port },
            timeout: '300ms',
            retries: 0,
            offlineAfter: 2,
            reconnect: { initial: '200ms', max: '1s' },
            // Report on change: with the simulator's fixed values a healthy device sends nothing between changes.
            devices: ['greenhouse-th', 'cellar-th'].map((id, i) => ({
              id,
              driver: 'xy-md02',
              unitId: i + 1,
              pollInterval: '500ms',
              overrides: { temperature: { deadband: 0 }, humidity: { deadband: 0 } },
            })),
          },
          { type: 'serial', name: 'bedside', port: oximeter.path, driver: 'pulse-oximeter-ascii', deviceId: 'bed-7-oximeter', timezone: 'UTC', reopen: { initial: '200ms', max: '1s' } },
          { type: 'hl7', name: 'monitors', listen: { host: '127.0.0.1', port: 0 } },
        ],
      },
    }).file;
  }

  async function startGateway(file: string): Promise<GatewayProcess> {
    const gateway = new GatewayProcess(file);
    gateways.push(gateway);
    await gateway.ready();
    return gateway;
  }

  const text = async (selector: string): Promise<string> => ((await page.locator(selector).first().textContent()) ?? '').trim();
  const number = async (selector: string): Promise<number> => Number((await text(selector)).replace(/,/g, ''));
  const row = (device: string): string => `#devices tr[data-device="${device}"]`;
  /** The latest value the page shows for a device's metric, as printed ("21.5 °C"). */
  const shownValue = (device: string, metric: string): Promise<string> => text(`${row(device)} [data-metric="${metric}"] .value`);

  /** What the buffer file holds right now, read as `telemetry-gateway buffer stats` reads it. */
  function bufferFile(): { pending: number; retained: number } {
    const reader = openBufferReadOnly(bufferPath);
    try {
      const report = readBufferReport(reader, bufferPath, TopicsConfig.parse({ prefix }), Date.now());
      return { pending: report.pending.total, retained: report.retained.count };
    } finally {
      reader.close();
    }
  }

  /** Every distinct event on this gateway's topics, read with kcat (a re-sent record counts once). */
  async function kafkaEvents(): Promise<TelemetryEvent[]> {
    const byId = new Map<string, TelemetryEvent>();
    for (const records of await Promise.all(topics.map((t) => readTopicWithKcat(kafka, t).catch(() => [])))) {
      for (const r of records) {
        const e = JSON.parse(r.value) as TelemetryEvent;
        byId.set(e.id, e);
      }
    }
    return [...byId.values()];
  }

  async function screenshot(state: string): Promise<void> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, `${state}.png`);
    await page.screenshot({ path: file, fullPage: true });
    if (process.env.ETG_UPDATE_DOCS_SCREENSHOTS === '1') {
      mkdirSync(DOCS, { recursive: true });
      copyFileSync(file, join(DOCS, `${state}.png`));
    }
  }

  /** Waits until the page shows an /api/status answer newer than now (the page refreshes every 2 s). */
  async function freshPage(): Promise<void> {
    const after = Date.now();
    await waitFor('the page to refresh', async () => Date.parse((await page.locator('body').getAttribute('data-status-time')) ?? '0') > after, { timeoutMs: 15_000 });
  }

  /**
   * Nothing flows: the page's backlog is the buffer file's, what it says was sent is what Kafka holds, and the
   * device rows count what Kafka has of each device. Waited for, since the page refreshes every 2 s.
   */
  async function expectPageMatchesBufferAndKafka(devices: readonly string[]): Promise<TelemetryEvent[]> {
    return waitFor('the page to match the buffer and Kafka', async () => {
      await freshPage();
      const [backlog, sent, retained] = [await number('#backlog'), await number('#sent'), await text('#buffer [data-row="Retained for replay"]')];
      const file = bufferFile();
      const events = await kafkaEvents();
      const perDevice = await Promise.all(devices.map(async (d) => [d, await number(`${row(d)} td:nth-child(7)`)] as const));
      const ok =
        backlog === file.pending &&
        file.pending === 0 &&
        sent === events.length &&
        Number(retained.replace(/,/g, '')) === file.retained &&
        perDevice.every(([d, n]) => n === events.filter((e) => e.deviceId === d).length);
      if (ok) return events;
      // The last mismatch is what the timeout reports.
      throw new Error(
        `page backlog ${backlog}, sent ${sent}, retained ${retained}; buffer ${JSON.stringify(file)}; Kafka ${events.length} events; ` +
          perDevice.map(([d, shown]) => `${d} ${shown} on the page, ${events.filter((e) => e.deviceId === d).length} in Kafka`).join(', '),
      );
    }, { timeoutMs: 60_000, intervalMs: 500 });
  }

  beforeAll(async () => {
    modbus = new ModbusSimulator({
      units: [
        { unitId: 1, driver: shippedDriver('xy-md02'), fixed: { temperature: 21.5, humidity: 48.2 } },
        { unitId: 2, driver: shippedDriver('xy-md02'), fixed: { temperature: 7.5, humidity: 81.3 } },
      ],
    });
    await modbus.start();
    oximeter = await startSerialSimulator({ driver: 'pulse-oximeter-ascii', configDir: SHIPPED_DRIVERS_DIR, seed: 7 });
    bufferPath = join(mkdtempSync(join(tmpdir(), 'etg-status-page-')), 'buffer.db');
    publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    profile = mkdtempSync(join(tmpdir(), 'etg-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
  });

  afterAll(async () => {
    publishing = false;
    await Promise.allSettled(feeders);
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await publisher?.close();
    for (const g of gateways) await g.kill();
    await oximeter?.stop();
    await modbus?.stop();
  });

  it('shows figures that agree with the buffer and Kafka in every state', { timeout: 420_000 }, async () => {
    onTestFailed(() => {
      console.error(steps.join('\n'));
      for (const g of gateways) console.error(g.logs.slice(-40).map((l) => JSON.stringify(l)).join('\n'), g.stderr.join(''));
    });
    const httpPort = await freePort();
    const live = config([kafka], httpPort);
    let gateway = await startGateway(live);
    page = await browser.newPage();
    page.on('console', (message) => {
      if (restarting && message.text().includes('ERR_CONNECTION_REFUSED')) return;
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
    });
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.locator('#gateway-id', { hasText: gatewayId }).waitFor();
    // Configured devices are listed before they send anything.
    await page.locator(row('ward-monitor'), { hasText: 'unknown' }).waitFor();

    // ---- idle: every device has reported, then nothing flows ----
    step('idle');
    const hl7 = await waitFor('the HL7 listener port', () => gateway.logs.find((l) => l.msg === 'hl7 listening')?.port as number | undefined);
    const sender = await MllpTestClient.connect(hl7);
    sender.write(fixtureFile(join(ROOT, 'test/cases/hl7/pcd01-gateway-periodic/input.txt')));
    await sender.waitForAcks(1);
    sender.close();
    for (let n = 0; n < 8; n++) await publisher.client.publishAsync(`${gatewayId}/sensors/dev-${n % 4}`, roomSensor(n), { qos: 1 });
    await publisher.client.publishAsync(`${gatewayId}/ward/spo2`, '97', { qos: 1 });
    // An undecodable message from a topic no device row has: traced by its source, not filed under a device.
    await publisher.client.publishAsync(`${gatewayId}/sensors/broken-7`, '{"temperature": 21.', { qos: 1 });
    await page.locator(`${row('bed-7-oximeter')} [data-metric="spo2"]`).waitFor();
    oximeter.setSilent(true);
    for (const device of ['greenhouse-th', 'cellar-th', 'bed-7-oximeter', 'ward-monitor', 'dev-0']) await page.locator(row(device), { hasText: 'online' }).waitFor();
    // Idle: the rate tiles show the last history point (5 s), so they read 0 once a whole interval passed quietly.
    await waitFor('an interval without events in or out', async () => {
      const points = async (id: string): Promise<{ n: number; last: string | null }> => ({
        n: Number(await page.locator(id).getAttribute('data-points')),
        last: await page.locator(id).getAttribute('data-last'),
      });
      const [chartIn, chartOut] = [await points('#chart-in'), await points('#chart-out')];
      return chartIn.n >= 2 && chartIn.last === '0' && chartOut.last === '0' && (await text('#rate-in')) === '0' && (await text('#rate-out')) === '0';
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const deviceIds = ['greenhouse-th', 'cellar-th', 'bed-7-oximeter', 'ward-monitor', 'dev-0', 'dev-1', 'dev-2', 'dev-3'];
    const idle = await expectPageMatchesBufferAndKafka(deviceIds);

    // Each device's latest value per metric, units as people write them with the UCUM code beside them.
    const latest = (device: string, metric: string): ReadingEvent | undefined =>
      idle.filter((e): e is ReadingEvent => e.type === 'reading' && e.deviceId === device && e.metric === metric).sort((a, b) => a.seq - b.seq).at(-1);
    expect(latest('greenhouse-th', 'temperature')?.value).toBe(21.5);
    expect(await shownValue('greenhouse-th', 'temperature')).toBe('21.5 °C');
    expect(await text(`${row('greenhouse-th')} [data-metric="temperature"] .ucum`)).toBe('Cel');
    expect(await shownValue('cellar-th', 'humidity')).toBe(`${latest('cellar-th', 'humidity')?.value} %`);
    const spo2 = latest('bed-7-oximeter', 'spo2');
    expect(await shownValue('bed-7-oximeter', 'spo2')).toBe(`${spo2?.value} %`);
    // The oximeter's methemoglobin is "--.-" (no value): shown as such on its own, not as the device's only reading.
    expect(await text(`${row('bed-7-oximeter')} [data-metric="spmet"]`)).toBe('spmet — bad');
    expect(await page.locator(`${row('bed-7-oximeter')} [data-metric]`).count()).toBeGreaterThanOrEqual(4);
    const pulse = idle.find((e): e is ReadingEvent => e.type === 'reading' && e.deviceId === '0012A3FFFE45B6C7' && e.code === 'MDC_PULS_OXIM_PULS_RATE');
    expect(pulse).toMatchObject({ deviceId: '0012A3FFFE45B6C7', value: 77, unit: '/min' });
    expect(await text(`${row('0012A3FFFE45B6C7')} [data-metric="${pulse?.metric}"]`)).toBe(`${pulse?.metric} 77 /min`);
    // Dead letters: where from (input, topic), why; not counted on any device row.
    expect(await number('#dead-letters')).toBe(idle.filter((e) => e.type === 'dead-letter').length);
    expect(await number('#dead-letters')).toBe(1);
    const deadLetter = page.locator(`#dead-letter-sources tr[data-source="${gatewayId}/sensors/broken-7"]`);
    expect(await deadLetter.locator('td').allTextContents()).toEqual(['site', `${gatewayId}/sensors/broken-7`, 'broken-7', '1', expect.stringMatching(/JSON/), expect.stringMatching(/ago$/)]);
    expect(await page.locator(row('broken-7')).count()).toBe(0);
    expect(await number('#inputs tr[data-input="site"] td:nth-child(4)')).toBe(1);
    // Connection state of every input family, with where it is connected.
    expect(await text('#inputs tr[data-input="plant"] .connection')).toBe(`connectedtcp 127.0.0.1:${modbus.port}`);
    expect(await text('#inputs tr[data-input="bedside"] .connection')).toBe(`connected${oximeter.path} 9600 8N1, no flow controlport open · reopened 0×`);
    expect(await text('#inputs tr[data-input="monitors"] .connection')).toBe(`listeningmllp 127.0.0.1:${hl7}0 connections`);
    expect(await text('#inputs tr[data-input="site"] .connection')).toBe(`connected${mqttUrl.replace(/\/$/, '')}`);
    expect(await text('#inputs-badges')).toMatch(/site connected.*plant connected.*bedside connected.*monitors listening/);
    // Modbus figures per device: requests, timeouts, poll duration.
    const plantFigures = await text('#inputs tr[data-input="plant"] [data-group="greenhouse-th"]');
    expect(plantFigures).toMatch(/^greenhouse-threquests [1-9][\d,]*timeouts 0.*polls [1-9].*last poll duration \d+(\.\d+)? (ms|s)/);
    expect(await text('#alarms tbody')).toBe('no active alarms');
    expect(await text('#oldest')).toBe('–');
    await screenshot('idle');

    // ---- under load: MQTT sensors at a steady rate, the oximeter sending ----
    step('under load');
    const pointsBeforeLoad = Number(await page.locator('#chart-in').getAttribute('data-points'));
    publishing = true;
    let n = 100;
    const feeder = (async () => {
      while (publishing) {
        const batch = [];
        for (let i = 0; i < 8; i++, n++) batch.push(publisher.client.publishAsync(`${gatewayId}/sensors/dev-${n % 4}`, roomSensor(n), { qos: 1 }));
        batch.push(publisher.client.publishAsync(`${gatewayId}/ward/spo2`, String(94 + (n % 5)), { qos: 1 }));
        await Promise.all(batch);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    feeders.push(feeder);
    oximeter.setSilent(false);
    step('under load: feeder running');
    await waitFor('the rate tiles to show the load', async () => (await number('#rate-in')) > 10 && (await number('#rate-out')) > 10, { timeoutMs: 60_000 });
    // Two history points under full load: the charts show the level, not only the rise.
    await waitFor('two history points under load', async () => Number(await page.locator('#chart-in').getAttribute('data-points')) >= pointsBeforeLoad + 3, { timeoutMs: 60_000, intervalMs: 250 });
    step('under load: charts have points');
    const sentUnderLoad = await number('#sent');
    // What the page says was acknowledged is in Kafka (counted afterwards, so it holds at least that much; kcat
    // reads whole topics only once nothing is being written).
    const recordsInKafka = (await Promise.all(topics.map((t) => topicSize(kafka, t)))).reduce((a, b) => a + b, 0);
    expect(recordsInKafka).toBeGreaterThanOrEqual(sentUnderLoad);
    step('under load: screenshot');
    await screenshot('under-load');
    publishing = false;
    await feeder;
    oximeter.setSilent(true);
    step('under load: stopped');
    await expectPageMatchesBufferAndKafka(deviceIds);

    // ---- a device offline: the cellar sensor stops answering ----
    step('device offline');
    modbus.setFault(2, { kind: 'silent' });
    await page.locator(row('cellar-th'), { hasText: 'offline' }).waitFor({ timeout: 30_000 });
    const offline = await expectPageMatchesBufferAndKafka(deviceIds);
    const cellarStatus = offline.filter((e): e is DeviceStatusEvent => e.type === 'device-status' && e.deviceId === 'cellar-th').sort((a, b) => a.seq - b.seq).at(-1);
    expect(cellarStatus?.status).toBe('offline');
    expect(await text(`${row('cellar-th')} .reason`)).toBe(cellarStatus?.reason);
    expect(await shownValue('cellar-th', 'temperature')).toBe('—');
    expect(await text('#inputs tr[data-input="plant"] [data-group="cellar-th"]')).toMatch(/timeouts [1-9]/);
    expect(await text(`${row('greenhouse-th')} td:nth-child(3)`)).toMatch(/^online/);
    // The load of the previous state has left the rate tiles (they show the last 5 s).
    await waitFor('the rates of the load to pass', async () => (await number('#rate-in')) < 10, { timeoutMs: 30_000, intervalMs: 250 });
    await screenshot('device-offline');

    // ---- an active alarm: the oximeter reports SpO2 below its low limit and keeps reporting it ----
    step('active alarm');
    oximeter.setSilent(false);
    await oximeter.play([{ spo2: 86, hr: 112, alarm: 0x02 }]);
    const alarmRow = page.locator('#alarms tr[data-alarm="bed-7-oximeter/spo2-low"]');
    await alarmRow.waitFor({ timeout: 30_000 });
    oximeter.setSilent(true);
    const alarmed = await expectPageMatchesBufferAndKafka(deviceIds);
    const alarm = alarmed.filter((e): e is AlarmEvent => e.type === 'alarm' && e.deviceId === 'bed-7-oximeter' && e.alarm === 'spo2-low').sort((a, b) => a.seq - b.seq).at(-1);
    expect(alarm).toMatchObject({ state: 'active', severity: 'high' });
    const cells = await alarmRow.locator('td').allTextContents();
    expect(cells.slice(0, 6)).toEqual(['high', 'bed-7-oximeter', 'spo2-low', alarm?.message, `spo2 = ${alarm?.value}`, 'bedside']);
    expect(await number('#alarm-count')).toBe(1);
    expect(await text(`${row('bed-7-oximeter')} td:first-child`)).toBe('bed-7-oximeter1 alarm');
    expect(await shownValue('bed-7-oximeter', 'spo2')).toBe('86 %');
    // /metrics says the same as the page (the real process, parsed as Prometheus text).
    const exposition = parseExposition(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text());
    expect(exposition.value('etg_alarms_active', { input: 'bedside', severity: 'high' })).toBe(1);
    expect(exposition.value('etg_alarms_active', { input: 'site', severity: 'high' })).toBe(0);
    for (const family of ['readings', 'alarms', 'deviceStatus', 'gatewayHealth', 'deadLetter']) expect(exposition.value('etg_buffer_pending_events', { family })).toBe(0);
    expect(exposition.value('etg_modbus_connected', { input: 'plant' })).toBe(1);
    expect(exposition.value('etg_modbus_timeouts_total', { input: 'plant', device: 'cellar-th' })).toBeGreaterThan(0);
    expect(exposition.value('etg_modbus_timeouts_total', { input: 'plant', device: 'greenhouse-th' })).toBe(0);
    expect(exposition.value('etg_serial_port_open', { input: 'bedside', device: 'bed-7-oximeter' })).toBe(1);
    expect(exposition.value('etg_dead_letters_total', { input: 'site' })).toBe(1);
    expect(exposition.sample('etg_device_events_ingested_total', { input: 'site', device: '_other' })).toBeUndefined();
    expect(exposition.family('process_resident_memory_bytes')?.type).toBe('GAUGE');
    await screenshot('active-alarm');
    const deliveredByFirstRun = (await kafkaEvents()).length;
    restarting = true;
    expect(await gateway.stop()).toBe(0);

    // ---- Kafka down with a backlog: the same gateway and buffer, its broker gone ----
    step('kafka down');
    const deadBroker = await freePort();
    gateway = await startGateway(config([`127.0.0.1:${deadBroker}`], httpPort));
    await page.reload();
    restarting = false;
    for (let m = 0; m < 50; m++) await publisher.client.publishAsync(`${gatewayId}/sensors/dev-${m % 5}`, roomSensor(1000 + m), { qos: 1 });
    await page.locator(row('cellar-th'), { hasText: 'offline' }).waitFor({ timeout: 30_000 });
    const backlog = await waitFor('the page to show the backlog the buffer holds', async () => {
      await freshPage();
      const shown = await number('#backlog');
      const file = bufferFile();
      return shown === file.pending && file.pending >= 100 ? { shown, file } : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    expect(await text('#kafka-badge')).toBe('Kafka not connected');
    expect(await text('#buffer [data-row="Kafka"]')).toMatch(/^not connected/);
    expect(await text('#ready-badge')).toBe('ready');
    expect(await text('#oldest')).toMatch(/^\d+(\.\d)? (ms|s|min)$/);
    expect(await number('#sent')).toBe(0);
    expect(await text('#buffer [data-row="Pending"]')).toMatch(new RegExp(`^${backlog.shown.toLocaleString('en-US')} \\(.*readings [\\d,]+`));
    // Nothing of it reached Kafka.
    expect((await kafkaEvents()).length).toBe(deliveredByFirstRun);
    // A few history points (one every 5 s), so the chart shows the backlog building up.
    await waitFor('three backlog chart points', async () => Number(await page.locator('#chart-backlog').getAttribute('data-points')) >= 3, { timeoutMs: 60_000, intervalMs: 250 });
    expect(Number(await page.locator('#chart-backlog').getAttribute('data-last'))).toBeGreaterThan(0);
    await screenshot('kafka-down-backlog');
    restarting = true;
    expect(await gateway.stop()).toBe(0);

    // ---- Kafka back: the backlog the page showed is delivered, nothing lost ----
    step('kafka back');
    const pendingAtStop = bufferFile().pending;
    expect(pendingAtStop).toBeGreaterThanOrEqual(backlog.shown);
    gateway = await startGateway(live);
    await page.reload();
    restarting = false;
    await waitFor('the backlog to be delivered', async () => {
      await freshPage();
      return (await number('#backlog')) === 0 && bufferFile().pending === 0;
    }, { timeoutMs: 60_000 });
    const after = await kafkaEvents();
    expect(after.length).toBeGreaterThanOrEqual(deliveredByFirstRun + pendingAtStop);
    // dev-4 sent only while Kafka was down: its 50 / 5 messages × 2 readings all arrived.
    expect(after.filter((e) => e.type === 'reading' && e.deviceId === 'dev-4')).toHaveLength(20);
    expect(await gateway.stop()).toBe(0);
    expect(problems).toEqual([]);
  });
});
