// The buffer when its storage fails: a file system that fills up (a real tmpfs of 2 MiB, mounted for the test;
// CI runs as root) stalls commits without losing or acknowledging anything and resumes by itself once there is
// room; a damaged file (truncated, bad pages, overwritten header) is refused at open and left exactly as it was;
// a polling input sends no request while its commit waits; a gateway stopped while commits are refused exits
// without waiting for room.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBuffer, type BufferOptions } from '../src/buffer/sqlite-buffer.js';
import { GatewayError } from '../src/errors.js';
import type { EventDraft } from '../src/events/schema.js';
import { systemClock } from '../src/util/clock.js';
import { createLogger } from '../src/util/logger.js';
import { ModbusInputConfig } from '../src/inputs/modbus/config.js';
import { ModbusInput } from '../src/inputs/modbus/modbus-input.js';
import { ModbusSimulator } from '../src/simulators/modbus.js';
import { driverSearchPaths, SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import { shippedDriver } from './support/modbus.js';
import { noReceipts } from './support/receipts.js';
import { CLI } from './support/gateway-process.js';
import { testBufferOptions } from './support/buffer.js';
import { MqttGateway } from './support/mqtt-gateway.js';
import { waitFor } from './support/wait.js';
import { BUFFER_DAMAGES } from '../scripts/buffer-damage.mjs';

/** Commits at once, appends wait when full (the disk-full stall must not drop), delivered events kept an hour. */
function options(path: string, overrides: Partial<BufferOptions> = {}): BufferOptions {
  return testBufferOptions({ path, gatewayId: 'gw-faults', commitLingerMs: 0, whenFull: 'block', retentionMs: 3_600_000, retentionMaxBytes: 1_000_000_000, clock: systemClock, ...overrides });
}

function reading(deviceId: string, value: number): EventDraft {
  return { type: 'reading', deviceId, sourceTime: null, receivedAt: new Date().toISOString(), metric: 'm', value, unit: null, quality: 'good' };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
});

/** An open buffer on its own 2 MB tmpfs (filled up by the test); unmounted after the test. */
function bufferOnSmallTmpfs(): { mnt: string; buffer: SqliteBuffer } {
  const mnt = mkdtempSync(join(tmpdir(), 'etg-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  cleanups.push(() => rmSync(mnt, { recursive: true, force: true }));
  cleanups.push(() => execFileSync('umount', ['-l', mnt]));
  const buffer = new SqliteBuffer(options(join(mnt, 'buffer.db')));
  buffer.open();
  cleanups.push(() => buffer.close());
  return { mnt, buffer };
}

describe('buffer on a full file system', () => {
  it('stalls commits (nothing resolved, GW_BUFFER_DISK_FULL) and resumes by itself when space returns; nothing committed is lost', async () => {
    const { mnt, buffer } = bufferOnSmallTmpfs();
    await buffer.append(Array.from({ length: 100 }, (_, i) => reading('before', i)));
    const stalls: (string | null)[] = [];
    buffer.onWriteStall((s) => stalls.push(s?.code ?? null));

    // Eat all but a few KiB, then commit more than fits.
    const filler = join(mnt, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      /* dd stops with ENOSPC: the file system is full */
    }
    let resolved = 0;
    const appends = Array.from({ length: 20 }, (_, k) =>
      buffer.append(Array.from({ length: 50 }, (_, i) => reading('during', k * 50 + i))).then(() => {
        resolved += 1;
      }),
    );
    const stall = await waitFor('a write stall', () => buffer.writeStall);
    expect(stall.code).toBe('GW_BUFFER_DISK_FULL');
    expect(stall.error).toMatch(/full|disk|I\/O/i);
    expect(stalls).toEqual(['GW_BUFFER_DISK_FULL']);
    expect(resolved).toBe(0);
    // Still refused on the retries: the appends stay unresolved (no acknowledgment upstream), none is rejected.
    await waitFor('a retry that was refused too', () => Date.now() - stall.since > 2500, { intervalMs: 200 });
    expect(resolved).toBe(0);
    expect(buffer.writeStall?.waiting).toBe(1000);

    rmSync(filler);
    await Promise.all(appends);
    expect(buffer.writeStall).toBeNull();
    expect(stalls).toEqual(['GW_BUFFER_DISK_FULL', null]);
    const stored = buffer.readPending(10_000).map((e) => JSON.parse(e.payload) as { deviceId: string; value: number; seq: number });
    expect(stored.filter((e) => e.deviceId === 'before').map((e) => e.value)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const during = stored.filter((e) => e.deviceId === 'during');
    expect(during.map((e) => e.value)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // seq has no hole from the refused attempts.
    expect(during.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('refuses appends beyond its in-memory bound while stalled, with GW_BUFFER_DISK_FULL', async () => {
    const { mnt, buffer } = bufferOnSmallTmpfs();
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      /* full */
    }
    const first = buffer.append(Array.from({ length: 500 }, (_, i) => reading('d', i)));
    await waitFor('a write stall', () => buffer.writeStall);
    const over = buffer.append(Array.from({ length: buffer.stallQueueEvents }, (_, i) => reading('d', i)));
    await expect(over).rejects.toMatchObject({ code: 'GW_BUFFER_DISK_FULL' });
    rmSync(join(mnt, 'filler'));
    await first;
    expect(buffer.pendingCount).toBe(500);
  });
});

describe('polling on a full file system', () => {
  it('a Modbus input sends no request while its commit waits for room, and declares the missed polls once it commits', async () => {
    const { mnt, buffer } = bufferOnSmallTmpfs();
    const sim = new ModbusSimulator({ units: [{ unitId: 1, driver: shippedDriver('xy-md02') }] });
    await sim.start();
    const config = ModbusInputConfig.parse({
      type: 'modbus',
      name: 'bus',
      transport: { kind: 'tcp', host: '127.0.0.1', port: sim.port },
      devices: [{ id: 'th', driver: 'xy-md02', unitId: 1, pollInterval: '100ms' }],
    });
    const input = new ModbusInput(config, {
      gatewayId: 'test',
      sink: buffer,
      receipts: noReceipts,
      logger: createLogger('silent'),
      clock: systemClock,
      configDir: SHIPPED_DRIVERS_DIR,
      driverSearchPaths: driverSearchPaths(SHIPPED_DRIVERS_DIR),
    });
    await input.start();
    try {
      await waitFor('polls committed', () => buffer.pendingCount >= 3);
      const filler = join(mnt, 'filler');
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        /* full */
      }
      const stall = await waitFor('a write stall', () => buffer.writeStall);
      const requestsAtStall = sim.requestsFor(1).length;
      // Several poll intervals pass while the poll's commit waits: no request goes to the device meanwhile.
      await waitFor('a second refused retry', () => Date.now() - stall.since > 2200, { intervalMs: 100 });
      expect(sim.requestsFor(1).length).toBe(requestsAtStall);
      rmSync(filler);
      await waitFor('polls resumed and the skipped ones declared', () => buffer.readPending(10_000).some((e) => e.type === 'gap'), { timeoutMs: 10_000 });
      const gap = buffer.readPending(10_000).find((e) => e.type === 'gap');
      expect((JSON.parse(gap?.payload ?? '{}') as { reason: string }).reason).toMatch(/^poll-overrun: /);
      expect(sim.requestsFor(1).length).toBeGreaterThan(requestsAtStall);
    } finally {
      await input.stop();
      await sim.stop();
    }
  });
});

describe('a damaged buffer file', () => {
  function filledFile(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'etg-damaged-')), 'buffer.db');
    const buffer = new SqliteBuffer(options(path, { synchronous: 'NORMAL', maxEventsPerCommit: 100_000 }));
    buffer.open();
    void buffer.append(Array.from({ length: 20_000 }, (_, i) => reading(`dev-${i % 10}`, i)));
    buffer.flush();
    buffer.close(); // checkpoints: everything is in the main file, no WAL left
    return path;
  }

  function openError(path: string): GatewayError {
    const buffer = new SqliteBuffer(options(path));
    try {
      buffer.open();
    } catch (err) {
      return err as GatewayError;
    }
    buffer.close();
    throw new Error('open() accepted the damaged file');
  }

  it('opens an intact file (quick_check passes)', () => {
    const path = filledFile();
    const buffer = new SqliteBuffer(options(path, { integrityCheckWhen: 'every-start' }));
    buffer.open();
    expect(buffer.integrityCheckDone).toBe('quick');
    expect(buffer.pendingCount).toBe(20_000);
    buffer.close();
  });

  it('after a clean stop the next start skips the check (the seal matches); after a crash, or with every-start, it checks', () => {
    const path = filledFile();
    expect(existsSync(`${path}.clean`)).toBe(true);
    const first = new SqliteBuffer(options(path));
    first.open();
    expect(first.integrityCheckDone).toBe('skipped-clean-stop');
    expect(first.pendingCount).toBe(20_000);
    // The seal is gone before the first write: a start that now crashes leaves the next one to check.
    expect(existsSync(`${path}.clean`)).toBe(false);
    void first.append([reading('dev-x', 1)]);
    first.flush();
    // A second start while the first never closed (as after a SIGKILL): no seal, so the check runs.
    const second = new SqliteBuffer(options(path));
    second.open();
    expect(second.integrityCheckDone).toBe('quick');
    expect(second.pendingCount).toBe(20_001);
    second.close(); // not the last connection: the WAL stays, so this close writes no seal
    expect(existsSync(`${path}.clean`)).toBe(false);
    first.close();
    expect(existsSync(`${path}.clean`)).toBe(true);
    const always = new SqliteBuffer(options(path, { integrityCheckWhen: 'every-start' }));
    always.open();
    expect(always.integrityCheckDone).toBe('quick');
    always.close();
  });

  it.each([
    ['truncated to half', BUFFER_DAMAGES.truncated],
    ['garbage written over pages in the middle', BUFFER_DAMAGES['bad-pages']],
    ['its header overwritten', BUFFER_DAMAGES.header],
  ])('refuses a file %s with GW_BUFFER_CORRUPT, says what to do, and leaves the file as it was', (_name, damage) => {
    const path = filledFile();
    damage(path);
    const before = readFileSync(path);
    const err = openError(path);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('GW_BUFFER_CORRUPT');
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/mv .*\.damaged/);
    expect(err.message).toMatch(/\.recover/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('the gateway refuses to start on a damaged file: exit code 1, the code and the advice on stderr', () => {
    const path = filledFile();
    const size = Math.floor(statSync(path).size / 2);
    truncateSync(path, size);
    const dir = mkdtempSync(join(tmpdir(), 'etg-damaged-gw-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, `gateway: { id: gw-damaged }\nbuffer: { path: ${path} }\nkafka: { brokers: ['127.0.0.1:1'] }\nhttp: { enabled: false }\n`);
    let stderr = '';
    let status: number | null = 0;
    try {
      execFileSync(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (err) {
      const e = err as { status: number | null; stderr: Buffer; stdout: Buffer };
      status = e.status;
      stderr = e.stderr.toString() + e.stdout.toString();
    }
    expect(status).not.toBe(0);
    expect(stderr).toContain('GW_BUFFER_CORRUPT');
    expect(statSync(path).size).toBe(size); // not recreated
  });
});

describe('stopping while the disk is full', () => {
  it('SIGTERM while commits are refused exits 0 without waiting for room (nothing waiting was acknowledged)', async () => {
    // SIGXFSZ ignored, so a write past RLIMIT_FSIZE fails with EFBIG: SQLite reports an I/O error, a refused commit.
    const gw = await MqttGateway.start({ name: 'stall-stop', wrapper: ['sh', '-c', 'trap "" XFSZ; exec "$0" "$@"'] });
    cleanups.push(() => void gw.kill());
    const { gateway, publisher } = gw;
    execFileSync('prlimit', ['--pid', String(gateway.child.pid), '--fsize=1:unlimited']);
    void publisher.publishMany(gw.sensors, 0, 50, 2).catch(() => undefined);
    const stall = await gateway.waitForLog('buffer file system refuses commits (disk full?); nothing more is acknowledged upstream until there is room; retrying every second');
    expect(stall.code).toBe('GW_BUFFER_DISK_FULL');
    expect(await gateway.stop(60_000)).toBe(0);
    expect(gateway.hasLog('stopping while the buffer cannot commit: events waiting in memory were not stored nor acknowledged')).toBe(true);
  });
});
