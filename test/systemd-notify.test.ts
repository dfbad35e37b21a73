import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SystemdNotifier } from '../src/service/notify.js';
import { watchdogIntervalMs } from '../src/service/watchdog.js';
import { createLogger } from '../src/util/logger.js';
import { GatewayProcess, writeTestConfig, type LogLine } from './support/gateway-process.js';
import { NotifySocket } from './support/notify-socket.js';
import { uniqueName, waitFor } from './support/wait.js';
import { Writable } from 'node:stream';

const BLOCK_HOOK = pathToFileURL(resolve(import.meta.dirname, 'support/block-event-loop.mjs')).href;
/** WATCHDOG_USEC for the test: 400 ms, so pings every 200 ms. */
const WATCHDOG_USEC = 400_000;
const PING_MS = WATCHDOG_USEC / 2000;
const BLOCK_MS = 3000;

describe('sd_notify and watchdog settings from the environment', () => {
  it('pings at half of WATCHDOG_USEC, only for the PID systemd named', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
  });

  it('does nothing without NOTIFY_SOCKET (not even start the helper)', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) }));
    const notifier = new SystemdNotifier({ env: {}, logger, command: '/nonexistent/systemd-notify' });
    expect(notifier.enabled).toBe(false);
    await notifier.notify({ READY: '1' });
    expect(lines).toEqual([]);
    // The same notifier with a socket set does run the helper, and reports that it is missing.
    const withSocket = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/nonexistent.sock' }, logger, command: '/nonexistent/systemd-notify' });
    await withSocket.notify({ READY: '1' });
    expect(lines.join('')).toContain('systemd notification failed');
  });
});

describe('the daemon under a notify socket (what systemd sees)', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const gatewayId = uniqueName('notify');
  let socket: NotifySocket;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    socket = await NotifySocket.listen();
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: `${gatewayId}.` });
    gateway = new GatewayProcess(file, {
      NOTIFY_SOCKET: socket.path,
      WATCHDOG_USEC: String(WATCHDOG_USEC),
      NODE_OPTIONS: `--import=${BLOCK_HOOK}`,
      ETG_TEST_BLOCK_MS: String(BLOCK_MS),
    });
  });

  afterAll(async () => {
    await gateway?.kill();
    socket?.close();
  });

  it('sends READY=1 once the buffer is open and the inputs have started', async () => {
    const ready = await socket.waitFor('READY');
    const started = await gateway.waitForLog('gateway started');
    const bufferOpen = gateway.logs.find((l) => l.msg === 'buffer open');
    expect(bufferOpen).toBeDefined();
    expect(Date.parse(String(started.time))).toBeLessThanOrEqual(ready.t);
    expect(ready.fields.STATUS).toBe('running 1 input(s)');
    expect(socket.with('READY')).toHaveLength(1);
  });

  it(`pings WATCHDOG=1 every WATCHDOG_USEC/2 (${PING_MS} ms)`, async () => {
    const enabled = await gateway.waitForLog('systemd watchdog enabled');
    expect(enabled.intervalMs).toBe(PING_MS);
    const before = socket.with('WATCHDOG').length;
    await socket.waitFor('WATCHDOG', '1', before + 10);
    const pings = socket.with('WATCHDOG').slice(before, before + 10);
    const first = pings[0];
    const last = pings[pings.length - 1];
    if (!first || !last) throw new Error('no pings');
    // A timer cannot fire faster than its period; the upper bound only catches a wrong unit (10× too slow).
    const meanGap = (last.t - first.t) / (pings.length - 1);
    expect(meanGap).toBeGreaterThan(PING_MS * 0.75);
    expect(meanGap).toBeLessThan(PING_MS * 10);
  });

  it('stops pinging while the event loop is blocked, and resumes after', async () => {
    await socket.waitFor('WATCHDOG', '1', socket.with('WATCHDOG').length + 1);
    gateway.child.kill('SIGUSR2');
    const unblocked = await gateway.waitForLog('test hook: event loop unblocked');
    const blockedAt = Number(unblocked.blockedAt);
    const unblockedAt = Number(unblocked.unblockedAt);
    expect(unblockedAt - blockedAt).toBeGreaterThanOrEqual(BLOCK_MS);
    // Pings resume once the loop runs again.
    await waitFor('a ping after the block', () => socket.with('WATCHDOG').some((m) => m.t > unblockedAt));
    // A helper started just before the block may still deliver its ping; after the first second nothing comes.
    const duringBlock = socket.with('WATCHDOG').filter((m) => m.t > blockedAt + 1000 && m.t < unblockedAt);
    expect(duringBlock).toEqual([]);
    // For scale: a running loop sends about BLOCK_MS / PING_MS pings in the same time.
    const beforeBlock = socket.with('WATCHDOG').filter((m) => m.t > blockedAt - BLOCK_MS && m.t <= blockedAt);
    expect(beforeBlock.length).toBeGreaterThanOrEqual(3);
  });

  it('sends RELOADING=1 and then READY=1 around a reload (SIGHUP)', async () => {
    gateway.child.kill('SIGHUP');
    const reloading = await socket.waitFor('RELOADING');
    const readyAgain = await socket.waitFor('READY', '1', 2);
    expect(readyAgain.t).toBeGreaterThanOrEqual(reloading.t);
    const reloaded = await gateway.waitForLog('configuration reloaded');
    expect(reloaded.unchanged).toEqual(['site']);
  });

  it('sends STOPPING=1 on SIGTERM and exits 0', async () => {
    const code = await gateway.stop();
    expect(code).toBe(0);
    const stopping = socket.with('STOPPING');
    expect(stopping).toHaveLength(1);
    const stoppingLog = gateway.logs.find((l: LogLine) => l.msg === 'stopping');
    expect(stoppingLog?.signal).toBe('SIGTERM');
    // Nothing claims readiness after STOPPING=1.
    const stoppedAt = stopping[0]?.t ?? 0;
    expect(socket.with('READY').filter((m) => m.t > stoppedAt)).toEqual([]);
  });
});
