import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { SystemdNotifier } from '../src/service/notify.js';
import { Watchdog, watchdogIntervalMs } from '../src/service/watchdog.js';
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

describe('the watchdog timer (fake clock, a notifier that records)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pings at once and then every interval, never twice while a ping is still being delivered', async () => {
    vi.useFakeTimers();
    const pings: number[] = [];
    let deliver: (() => void) | undefined;
    const notifier = {
      enabled: true,
      notify: () => {
        pings.push(Date.now());
        return new Promise<void>((resolve) => (deliver = resolve));
      },
      idle: () => Promise.resolve(),
    };
    const watchdog = new Watchdog(notifier, PING_MS, createLogger('silent'));
    await watchdog.start();
    expect(pings).toHaveLength(1);
    // The first ping is still in flight (a slow helper on a loaded machine): the timer does not pile pings up.
    await vi.advanceTimersByTimeAsync(PING_MS * 3);
    expect(pings).toHaveLength(1);
    deliver?.();
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(PING_MS);
      deliver?.();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(pings).toHaveLength(6);
    expect(pings.slice(1).map((t, i) => t - (pings[i] ?? 0))).toEqual([PING_MS * 4, PING_MS, PING_MS, PING_MS, PING_MS]);
    await watchdog.stop();
    await vi.advanceTimersByTimeAsync(PING_MS * 5);
    expect(pings).toHaveLength(6);
  });
});

describe('the daemon under a notify socket (what systemd sees)', () => {
  const kafka = inject('kafkaBootstrap');
  const mqttUrl = inject('mqttUrl');
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A gateway started the way systemd starts it (NOTIFY_SOCKET, WATCHDOG_USEC), with the loop-blocking test hook. */
  async function daemon(): Promise<{ socket: NotifySocket; gateway: GatewayProcess }> {
    const socket = await NotifySocket.listen();
    cleanups.push(() => socket.close());
    const gatewayId = uniqueName('notify');
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: `${gatewayId}.` });
    const gateway = new GatewayProcess(file, {
      NOTIFY_SOCKET: socket.path,
      WATCHDOG_USEC: String(WATCHDOG_USEC),
      NODE_OPTIONS: `--import=${BLOCK_HOOK}`,
      ETG_TEST_BLOCK_MS: String(BLOCK_MS),
    });
    cleanups.push(() => gateway.kill());
    return { socket, gateway };
  }

  it('sends READY=1 once, after the buffer is open and the inputs have started', async () => {
    const { socket, gateway } = await daemon();
    const ready = await socket.waitFor('READY');
    expect(ready.fields.STATUS).toBe('running 1 input(s)');
    // By the time systemd hears READY=1, the gateway is ready by its own account too.
    await gateway.ready();
    const started = gateway.logs.find((l) => l.msg === 'gateway started');
    const bufferOpen = gateway.logs.findIndex((l) => l.msg === 'buffer open');
    expect(bufferOpen).toBeGreaterThanOrEqual(0);
    expect(bufferOpen).toBeLessThan(gateway.logs.findIndex((l) => l.msg === 'gateway started'));
    expect(Date.parse(String(started?.time))).toBeLessThanOrEqual(ready.t);
    expect(socket.with('READY')).toHaveLength(1);
  });

  it(`pings WATCHDOG=1 with the period WATCHDOG_USEC/2 (${PING_MS} ms), and keeps pinging`, async () => {
    const { socket, gateway } = await daemon();
    const enabled = await gateway.waitForLog('systemd watchdog enabled');
    expect(enabled.intervalMs).toBe(PING_MS);
    // How regular the pings are is the timer's (tested above with a fake clock); here: they keep coming.
    const before = socket.with('WATCHDOG').length;
    await socket.waitFor('WATCHDOG', '1', before + 10);
  });

  it('stops pinging while the event loop is blocked, and resumes after', async () => {
    const { socket, gateway } = await daemon();
    await socket.waitFor('WATCHDOG', '1', 2);
    gateway.child.kill('SIGUSR2');
    const unblocked = await gateway.waitForLog('test hook: event loop unblocked');
    const blockedAt = Number(unblocked.blockedAt);
    const unblockedAt = Number(unblocked.unblockedAt);
    expect(unblockedAt - blockedAt).toBeGreaterThanOrEqual(BLOCK_MS);
    // Pings resume once the loop runs again.
    await waitFor('a ping after the block', () => socket.with('WATCHDOG').some((m) => m.t > unblockedAt));
    // While the loop was blocked no ping could start; the one helper that may have been running already (pings
    // never overlap) can still arrive, however slow the machine. More than one means pings ran while blocked.
    const duringBlock = socket.with('WATCHDOG').filter((m) => m.t > blockedAt && m.t < unblockedAt);
    expect(duringBlock.length).toBeLessThanOrEqual(1);
  });

  it('sends RELOADING=1 and then READY=1 around a reload (SIGHUP)', async () => {
    const { socket, gateway } = await daemon();
    await socket.waitFor('READY');
    gateway.child.kill('SIGHUP');
    const reloading = await socket.waitFor('RELOADING');
    const readyAgain = await socket.waitFor('READY', '1', 2);
    expect(readyAgain.t).toBeGreaterThanOrEqual(reloading.t);
    const reloaded = await gateway.waitForLog('configuration reloaded');
    expect(reloaded.unchanged).toEqual(['site']);
  });

  it('sends STOPPING=1 on SIGTERM and exits 0', async () => {
    const { socket, gateway } = await daemon();
    await socket.waitFor('READY');
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
