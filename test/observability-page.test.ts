/**
 * The status page of a real gateway process in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core): it loads without console errors, lists the configured devices (before and after they
 * send), and its numbers change while events flow MQTT → Kafka. Saves test-artifacts/status-page.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../scripts/mosquitto.mjs';
import { GatewayProcess, sensorSubscription, writeTestConfig } from './support/gateway-process.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName, waitFor } from './support/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = resolve(import.meta.dirname, '../test-artifacts/status-page.png');

describe('status page in headless Chromium', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('obs-page');
  let port: number;
  let gateway: GatewayProcess;
  let publisher: SensorPublisher;
  let browser: BrowserContext;
  let profile: string;
  let publishing = true;
  let feeder: Promise<void> | undefined;

  beforeAll(async () => {
    port = await freePort();
    const { file } = writeTestConfig({
      gatewayId,
      brokers: [kafka],
      mqttUrl,
      topicPrefix: `${gatewayId}.`,
      subscriptions: [
        sensorSubscription(`${gatewayId}/sensors`),
        // A device fixed in the config: listed before it sends anything.
        { topic: `${gatewayId}/ward/spo2`, qos: 1, deviceId: 'ward-monitor', format: 'number', metrics: [{ metric: 'spo2', unit: '%' }] },
      ],
      overrides: { http: { port }, health: { interval: '2s' } },
    });
    gateway = new GatewayProcess(file);
    await gateway.ready();
    publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    profile = mkdtempSync(join(tmpdir(), 'etg-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
  });

  afterAll(async () => {
    publishing = false;
    await feeder;
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await publisher?.close();
    expect(await gateway?.stop()).toBe(0);
  });

  it('loads without console errors, lists the devices, and its numbers change while events flow', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
    });

    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('#gateway-id', { hasText: gatewayId }).waitFor();
    // The configured device is listed before it sends anything.
    await page.locator('tr[data-device="ward-monitor"]', { hasText: 'unknown' }).waitFor();
    expect(await page.locator('#ready-badge').textContent()).toBe('ready');

    // Events flow from here on: sensors dev-0..dev-3 and the monitor, a few messages every 100 ms.
    let n = 0;
    feeder = (async () => {
      while (publishing) {
        const batch = [];
        for (let i = 0; i < 8; i++, n++) batch.push(publisher.client.publishAsync(`${gatewayId}/sensors/dev-${n % 4}`, SensorPublisher.payload(n), { qos: 1 }));
        batch.push(publisher.client.publishAsync(`${gatewayId}/ward/spo2`, String(94 + (n % 5)), { qos: 1 }));
        await Promise.all(batch);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    for (const device of ['dev-0', 'dev-1', 'dev-2', 'dev-3']) await page.locator(`tr[data-device="${device}"]`, { hasText: 'online' }).waitFor();
    await page.locator('tr[data-device="ward-monitor"]', { hasText: 'online' }).waitFor();
    const listed = await page.locator('#devices tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device')));
    expect(listed).toEqual(['dev-0', 'dev-1', 'dev-2', 'dev-3', 'ward-monitor']);
    expect(await page.locator('tr[data-device="ward-monitor"]').textContent()).toMatch(/spo2 = 9[4-8] %/);

    // Numbers move between refreshes: events of a device, events sent to Kafka, then the rate tiles.
    const eventsOf = async (device: string): Promise<number> =>
      Number(((await page.locator(`tr[data-device="${device}"] td`).nth(6).textContent()) ?? '').replace(/,/g, ''));
    const sentNow = async (): Promise<number> => Number(((await page.locator('#sent').textContent()) ?? '').replace(/,/g, ''));
    const firstEvents = await eventsOf('dev-0');
    const firstSent = await sentNow();
    await waitFor('the page to show more events of dev-0', async () => (await eventsOf('dev-0')) > firstEvents);
    await waitFor('the page to show more events sent to Kafka', async () => (await sentNow()) > firstSent);
    await waitFor('the events-in rate tile to show a rate', async () => Number((await page.locator('#rate-in').textContent()) ?? '0') > 0, { timeoutMs: 30_000 });
    await waitFor('the events-out rate tile to show a rate', async () => Number((await page.locator('#rate-out').textContent()) ?? '0') > 0, { timeoutMs: 30_000 });
    expect(await page.locator('#kafka-badge').textContent()).toBe('Kafka connected');
    expect(await page.locator('#inputs-badges').textContent()).toContain('site connected');
    // Two history points make a line on each chart (one every 5 s); the page notes how many it drew.
    for (const chart of ['chart-in', 'chart-out', 'chart-backlog']) {
      await page.locator(`#${chart}:not([data-points="0"]):not([data-points="1"])`).waitFor({ timeout: 30_000 });
    }

    mkdirSync(resolve(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
  });
});
