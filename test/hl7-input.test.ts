/**
 * The HL7 input over real TCP (and TLS) connections into a real SQLite buffer file: ACKs leave only after the
 * commit holding their message (proven with the buffer's `block` policy holding every commit back: nothing is
 * acknowledged while commits wait, and messages from several connections then share one commit), a failed commit
 * drops the connection without ACK, resends are acknowledged again without a second event across connections and
 * restarts, receipts past the window are purged, TLS with client certificates, the allow-list, connect mode and
 * stop() answering what it took.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferOptions, SqliteBuffer } from '../src/buffer/sqlite-buffer.js';
import { SHIPPED_DRIVERS_DIR } from '../src/drivers/driver-files.js';
import type { EventDraft } from '../src/events/schema.js';
import { Hl7InputConfig } from '../src/inputs/hl7/config.js';
import { Hl7Input } from '../src/inputs/hl7/hl7-input.js';
import { MllpFramer, mllpFrame } from '../src/inputs/hl7/mllp.js';
import type { IngestSink, SourceReceipt } from '../src/inputs/input.js';
import { createLogger } from '../src/util/logger.js';
import { openTestBuffer } from './support/buffer.js';
import { makeTestPki } from './support/certs.js';
import { MllpTestClient, msa } from './support/hl7.js';
import { waitFor } from './support/wait.js';

class ManualClock {
  constructor(public t = Date.parse('2026-11-27T10:00:00Z')) {}
  now(): number {
    return this.t;
  }
}

const openBuffer = (overrides: Partial<BufferOptions> = {}): SqliteBuffer => openTestBuffer({ gatewayId: 'gw-hl7', ...overrides });

/** Log lines as objects (to check the codes the input logs). */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

function oru(sender: string, controlId: string, spo2 = 97, extra = ''): string {
  return [
    `MSH|^~\\&|${sender}^0012A3FFFE45B6C7^EUI-64|WARD|||20261127101500+0100||ORU^R01^ORU_R01|${controlId}|P|2.6|||AL|NE${extra}`,
    'OBR|1|||182777000^monitoring of patient^SCT|||20261127101500+0100',
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|${spo2}|262688^MDC_DIM_PERCENT^MDC|||||R|||20261127101459+0100||||0012A3FFFE45B6C7^^0012A3FFFE45B6C7^EUI-64`,
    'OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R',
  ].join('\r');
}

const readings = (buffer: SqliteBuffer): { value: number; source: string }[] =>
  buffer
    .readPending(100_000)
    .map((e) => JSON.parse(e.payload) as { type: string; value: number; source: string })
    .filter((e) => e.type === 'reading');

describe('HL7 input over TCP', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function startInput(config: Record<string, unknown>, sink: IngestSink, buffer: SqliteBuffer, clock: { now(): number } = { now: () => Date.now() }, logger = createLogger('silent')): Promise<Hl7Input> {
    const input = new Hl7Input(Hl7InputConfig.parse({ type: 'hl7', name: 'icu', listen: { port: 0 }, ...config }), {
      configDir: SHIPPED_DRIVERS_DIR,
      driverSearchPaths: [SHIPPED_DRIVERS_DIR],
      gatewayId: 'gw-hl7',
      sink,
      receipts: buffer,
      logger,
      clock,
    });
    await input.start();
    cleanups.push(() => input.stop());
    if (config.connect === undefined) await waitFor('listening', () => input.address);
    return input;
  }

  async function client(input: Hl7Input): Promise<MllpTestClient> {
    const c = await MllpTestClient.connect(input.address?.port ?? 0);
    cleanups.push(() => c.close());
    return c;
  }

  it('sends no ACK while commits are held back, then ACKs everything in order after one shared commit', async () => {
    // The block policy at its bound holds every append uncommitted until Kafka makes room: a real stalled commit.
    const buffer = openBuffer({ maxEvents: 1000, whenFull: 'block' });
    cleanups.push(() => buffer.close());
    const filler: EventDraft[] = Array.from({ length: 1000 }, (_, i) => ({ type: 'reading', deviceId: 'filler', sourceTime: null, receivedAt: new Date().toISOString(), metric: 'm', value: i, unit: null, quality: 'good' }));
    await buffer.append(filler);
    const input = await startInput({}, buffer, buffer);
    const a = await client(input);
    const b = await client(input);
    const commitsBefore = buffer.counters.commits;
    for (let i = 0; i < 20; i++) a.write(mllpFrame(oru('MON_A', `A-${i}`, 90 + (i % 10))));
    for (let i = 0; i < 20; i++) b.write(mllpFrame(oru('MON_B', `B-${i}`)));
    // A sender that timed out resends on another connection while the original still waits for its commit.
    b.write(mllpFrame(oru('MON_A', 'A-3', 93)));
    await waitFor('all 41 messages handed to the buffer', () => buffer.queuedCount === 80 + 0);
    await waitFor('the resend looked up', () => input.outcomes.resend === 1);
    expect(a.acks).toEqual([]);
    expect(b.acks).toEqual([]);
    expect(input.metrics().find((m) => m.name === 'hl7_acks_awaiting_commit')?.value).toBe(41);

    buffer.markDelivered(buffer.readPending(1000));
    const ackedA = await a.waitForAcks(20);
    const ackedB = await b.waitForAcks(21);
    expect(ackedA.map((x) => msa(x))).toEqual(Array.from({ length: 20 }, (_, i) => ({ code: 'CA', controlId: `A-${i}` })));
    expect(ackedB.map((x) => msa(x).controlId)).toEqual([...Array.from({ length: 20 }, (_, i) => `B-${i}`), 'A-3']);
    expect(ackedB.every((x) => msa(x).code === 'CA')).toBe(true);
    // 40 messages from two connections in one commit (plus the resend's receipt refresh); the resend made no events.
    expect(buffer.counters.commits - commitsBefore).toBeLessThanOrEqual(3);
    expect(readings(buffer)).toHaveLength(80);
  });

  it('drops the connection without ACK when a commit fails; the resend after reconnecting is stored and acknowledged', async () => {
    const buffer = openBuffer();
    cleanups.push(() => buffer.close());
    let failNext = true;
    const failing: IngestSink = {
      append: (drafts: readonly EventDraft[], receipt?: SourceReceipt) => {
        if (failNext && drafts.length > 0) {
          failNext = false;
          // Like the buffer's own failure: the receipt is queued and its commit rejects.
          const failed = buffer.append([], receipt).then(() => Promise.reject(new Error('disk full')));
          return failed;
        }
        return buffer.append(drafts, receipt);
      },
      flush: () => buffer.flush(),
    };
    const { logger, lines } = capturingLogger();
    const input = await startInput({}, failing, buffer, undefined, logger);
    const first = await client(input);
    first.write(mllpFrame(oru('MON_C', 'C-1')));
    await first.closed;
    expect(first.acks).toEqual([]);
    expect(lines.some((l) => l.code === 'GW_BUFFER_WRITE' && String(l.msg).includes('without ACK'))).toBe(true);
    const second = await client(input);
    second.write(mllpFrame(oru('MON_C', 'C-1')));
    expect((await second.waitForAcks(1)).map((x) => msa(x))).toEqual([{ code: 'CA', controlId: 'C-1' }]);
    expect(input.metrics().find((m) => m.name === 'hl7_commit_failures_total')?.value).toBe(1);
  });

  it('recognises a resend after a restart of the gateway, and a reused control id with other content as new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etg-hl7-restart-'));
    const path = join(dir, 'buffer.db');
    const first = openBuffer({ path });
    const input = await startInput({}, first, first);
    const c1 = await client(input);
    c1.write(mllpFrame(oru('MON_D', 'D-1', 95)));
    await c1.waitForAcks(1);
    await input.stop();
    first.close();

    const second = openBuffer({ path });
    cleanups.push(() => second.close());
    const again = await startInput({}, second, second);
    const c2 = await client(again);
    c2.write(mllpFrame(oru('MON_D', 'D-1', 95)));
    c2.write(mllpFrame(oru('MON_D', 'D-1', 88)));
    expect((await c2.waitForAcks(2)).map((x) => msa(x))).toEqual([
      { code: 'CA', controlId: 'D-1' },
      { code: 'CA', controlId: 'D-1' },
    ]);
    expect(again.outcomes).toMatchObject({ resend: 1, accepted: 1 });
    expect(readings(second).map((r) => r.value)).toEqual([95, 72, 88, 72]);
  });

  it('forgets receipts older than duplicates.window (the newest one per input stays)', async () => {
    const clock = new ManualClock();
    const buffer = openBuffer({ clock });
    cleanups.push(() => buffer.close());
    const input = await startInput({ duplicates: { window: '10s' } }, buffer, buffer, clock);
    const c = await client(input);
    c.write(mllpFrame(oru('MON_E', 'E-1')));
    c.write(mllpFrame(oru('MON_E', 'E-2')));
    await c.waitForAcks(2);
    clock.t += 60_000;
    await waitFor('E-1 purged (the purge runs every second here)', () => buffer.find('hl7:icu', 'MON_E^0012A3FFFE45B6C7^EUI-64|WARD|E-1') === undefined, { timeoutMs: 10_000 });
    c.write(mllpFrame(oru('MON_E', 'E-1')));
    await c.waitForAcks(3);
    expect(input.outcomes).toMatchObject({ accepted: 3, resend: 0 });
  });

  it('speaks MLLP over TLS, requires client certificates with verifyClient, and logs a refused handshake', async () => {
    const pki = makeTestPki();
    const buffer = openBuffer();
    cleanups.push(() => buffer.close());
    const { logger, lines } = capturingLogger();
    const input = await startInput(
      { listen: { port: 0, tls: { cert: { file: pki.serverCert }, key: { file: pki.serverKey }, ca: { file: pki.caCert }, verifyClient: true } } },
      buffer,
      buffer,
      undefined,
      logger,
    );
    const { readFileSync } = await import('node:fs');
    const port = input.address?.port ?? 0;
    const trusted = await MllpTestClient.connect(port, { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
    cleanups.push(() => trusted.close());
    trusted.write(mllpFrame(oru('MON_F', 'F-1')));
    expect(msa((await trusted.waitForAcks(1))[0] ?? '')).toEqual({ code: 'CA', controlId: 'F-1' });

    // Without a client certificate the handshake fails (TLS 1.3: the alert arrives after connect) and nothing is taken.
    const anonymous = await MllpTestClient.connect(port, { ca: readFileSync(pki.caCert) }).catch(() => undefined);
    anonymous?.write(mllpFrame(oru('MON_F', 'F-2')));
    await anonymous?.closed;
    expect(anonymous?.acks ?? []).toEqual([]);
    await waitFor('GW_HL7_TLS logged', () => lines.some((l) => l.code === 'GW_HL7_TLS'));
    expect(readings(buffer)).toHaveLength(2);
  });

  it('closes connections from addresses outside listen.allow at once', async () => {
    const buffer = openBuffer();
    cleanups.push(() => buffer.close());
    const { logger, lines } = capturingLogger();
    const input = await startInput({ listen: { port: 0, allow: ['10.99.0.0/16'] } }, buffer, buffer, undefined, logger);
    const c = await client(input);
    c.write(mllpFrame(oru('MON_G', 'G-1')));
    await c.closed;
    expect(c.acks).toEqual([]);
    expect(readings(buffer)).toHaveLength(0);
    expect(lines.find((l) => l.code === 'GW_HL7_REFUSED')?.msg).toBe('hl7 connection refused: 127.0.0.1 is not in listen.allow');
    expect(input.metrics().find((m) => m.name === 'hl7_connections_refused_total')?.value).toBe(1);
  });

  it('connect mode: connects out to a sender that serves MLLP, ACKs there, reconnects when it drops', async () => {
    const buffer = openBuffer();
    cleanups.push(() => buffer.close());
    const sockets: Socket[] = [];
    const acks: string[] = [];
    const server: Server = createServer((socket) => {
      sockets.push(socket);
      const framer = new MllpFramer({ maxFrameBytes: 1 << 20, keepBytes: 64 });
      socket.on('data', (chunk: Buffer) => {
        for (const item of framer.push(chunk)) if (item.kind === 'frame') acks.push(item.payload.toString());
      });
      socket.on('error', () => undefined);
      socket.write(mllpFrame(oru('MON_H', `H-${sockets.length}`)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    await startInput({ listen: undefined, connect: { host: '127.0.0.1', port, reconnect: { initial: '100ms', max: '200ms' } } }, buffer, buffer);
    await waitFor('the first ACK', () => acks.length === 1);
    sockets[0]?.destroy();
    await waitFor('reconnected and the second ACK', () => acks.length === 2);
    expect(acks.map((a) => msa(a))).toEqual([
      { code: 'CA', controlId: 'H-1' },
      { code: 'CA', controlId: 'H-2' },
    ]);
    for (const s of sockets) s.destroy();
  });

  it('commits at once when every connection waits for an ACK (no linger), one commit for all of them', async () => {
    // A linger far longer than the test: any ACK that arrives was committed early because every sender waited.
    const buffer = openBuffer({ commitLingerMs: 600_000 });
    cleanups.push(() => buffer.close());
    const input = await startInput({}, buffer, buffer);
    const a = await client(input);
    const b = await client(input);
    await waitFor('both connections accepted', () => input.connectionCount === 2);
    // The buffer lingers only while busy (a commit just happened); an idle buffer commits a lone event at once.
    await buffer.append([{ type: 'reading', deviceId: 'prime', sourceTime: null, receivedAt: new Date().toISOString(), metric: 'm', value: 1, unit: null, quality: 'good' }]);
    const commitsBefore = buffer.counters.commits;
    a.write(mllpFrame(oru('MON_J', 'J-1')));
    await waitFor('A handed over', () => input.outcomes.accepted === 1);
    // B has sent nothing yet: it may still send, so A's message lingers ...
    expect(buffer.queuedCount).toBe(2);
    b.write(mllpFrame(oru('MON_K', 'K-1')));
    // ... until B's message makes every connection wait: both in one commit, both acknowledged.
    expect(msa((await a.waitForAcks(1))[0] ?? '')).toEqual({ code: 'CA', controlId: 'J-1' });
    expect(msa((await b.waitForAcks(1))[0] ?? '')).toEqual({ code: 'CA', controlId: 'K-1' });
    expect(buffer.counters.commits - commitsBefore).toBe(1);
  });

  it('stop() answers every message it took before closing the connection', async () => {
    const buffer = openBuffer({ commitLingerMs: 50 });
    cleanups.push(() => buffer.close());
    const input = await startInput({}, buffer, buffer);
    const c = await client(input);
    for (let i = 0; i < 10; i++) c.write(mllpFrame(oru('MON_I', `I-${i}`)));
    await waitFor('all taken', () => input.outcomes.accepted === 10);
    await input.stop();
    await c.closed;
    expect(c.acks.map((a) => msa(a).controlId)).toEqual(Array.from({ length: 10 }, (_, i) => `I-${i}`));
  });
});
