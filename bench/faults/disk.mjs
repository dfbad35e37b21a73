// The buffer's file system fills up while messages flow: the buffer lives on a small tmpfs mounted for the
// scenario (needs root, as CI runs), which a filler file then fills. Pass: commits stall with GW_BUFFER_DISK_FULL
// and /readyz 503, nothing is committed meanwhile (so nothing more is acknowledged upstream: Mosquitto keeps the
// messages), the gateway resumes by itself once the filler is removed, 0 lost, audit clean.
// A buffer file damaged while the gateway is down (truncated; garbage over pages in the middle): the restarted
// gateway refuses it at start with GW_BUFFER_CORRUPT and the way out, leaves it byte for byte as it was (never
// recreated over it), and once the file is moved away as the message says, starts on a fresh buffer and delivers.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUFFER_DAMAGES } from '../../scripts/buffer-damage.mjs';
import { GatewayProcess, bufferCounts, checkDelivery, deliveredInBuffer, gatewayMetric, pendingInBuffer, readyz, sleep, topicSize, waitFor, waitForQuiet } from './lib.mjs';

const DEVICES = 10;
const RATE_PER_SEC = 300;

const committed = (path) => bufferCounts(path)?.total;

async function diskFull(ctx) {
  const seconds = Math.max(15, Math.round(ctx.args.faultSeconds / 2));
  const mnt = mkdtempSync(join(tmpdir(), 'etg-faults-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
  ctx.cleanup(() => rmSync(mnt, { recursive: true, force: true }));
  ctx.cleanup(() => execFileSync('umount', ['-l', mnt]));
  const { cfg, gateway, publisher } = await ctx.freshGateway('disk-full', { bufferDir: mnt });
  const publishing = publisher.publish(cfg.baseTopic, RATE_PER_SEC * (seconds + 30), { devices: DEVICES, ratePerSec: RATE_PER_SEC });
  await sleep(10_000);
  const filler = join(mnt, 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    /* dd ends with ENOSPC: the file system is full */
  }
  const filledAt = Date.now();
  ctx.log(`disk-full: ${mnt} filled; waiting for the stall`);
  const stalled = await waitFor('readyz 503 with GW_BUFFER_DISK_FULL', async () => {
    const r = await readyz(gateway);
    return r && r.status === 503 && r.body.reasons.some((reason) => reason.includes('GW_BUFFER_DISK_FULL')) ? r : undefined;
  }, { timeoutMs: 60_000, intervalMs: 200 });
  const detectSeconds = (Date.now() - filledAt) / 1000;
  const loggedCode = gateway.logs.some((l) => l.code === 'GW_BUFFER_DISK_FULL');
  await sleep(1500); // a commit group already past the disk may still land
  const committedAtStall = committed(cfg.bufferPath) ?? 0;
  let maxHeld = 0;
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    maxHeld = Math.max(maxHeld, (await gatewayMetric(gateway, 'etg_mqtt_acks_awaiting_commit')) ?? 0);
    await sleep(500);
  }
  const committedDuringStall = (committed(cfg.bufferPath) ?? 0) - committedAtStall;
  rmSync(filler);
  const freedAt = Date.now();
  await waitFor('readyz 200 again', async () => (await readyz(gateway))?.status === 200, { timeoutMs: 60_000, intervalMs: 200 });
  const resumeSeconds = (Date.now() - freedAt) / 1000;
  await publishing;
  await waitFor('buffer drained', () => pendingInBuffer(cfg.bufferPath) === 0, { timeoutMs: 300_000, intervalMs: 250 });
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const stop = await gateway.stop();
  await publisher.close();
  const resumedLog = gateway.logs.some((l) => l.msg?.startsWith('buffer commits again'));
  return ctx.row('disk-full', {
    acked: publisher.acked.size,
    detectSeconds: Number(detectSeconds.toFixed(1)),
    stallReason: stalled.body.reasons.join('; ').slice(0, 120),
    committedDuringStall,
    maxHeldAcks: maxHeld,
    resumeSeconds: Number(resumeSeconds.toFixed(1)),
    ...result,
    ok: loggedCode && resumedLog && committedDuringStall === 0 && maxHeld > 0 && result.lost === 0 && result.auditClean && stop.code === 0,
  });
}

const DAMAGES = { truncated: BUFFER_DAMAGES.truncated, 'bad-pages': BUFFER_DAMAGES['bad-pages'] };

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function bufferDamaged(ctx, damage) {
  const messages = Math.min(ctx.args.messages, 20_000);
  const { cfg, gateway, publisher } = await ctx.freshGateway(`damaged-${damage}`);
  await publisher.publish(cfg.baseTopic, messages, { devices: DEVICES });
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const delivered = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const acked = publisher.acked.size;
  // A clean stop checkpoints: everything is in the main file, which is then damaged while no gateway runs.
  const stop = await gateway.stop();
  const heldBefore = bufferCounts(cfg.bufferPath)?.total ?? 0;
  DAMAGES[damage](cfg.bufferPath);
  const damagedHash = sha256(cfg.bufferPath);
  const damagedSize = statSync(cfg.bufferPath).size;

  const refused = new GatewayProcess(cfg.file);
  ctx.cleanup(() => refused.kill());
  const exit = await Promise.race([refused.exited, sleep(60_000).then(() => ({ code: 'still running after 60 s' }))]);
  const stderr = refused.stderr;
  const advice = stderr.includes(`mv ${cfg.bufferPath} ${cfg.bufferPath}.damaged`) && stderr.includes('.recover');
  const fileKept = existsSync(cfg.bufferPath) && statSync(cfg.bufferPath).size === damagedSize && sha256(cfg.bufferPath) === damagedHash;
  ctx.log(`buffer-damaged (${damage}): exit ${exit.code}; ${stderr.split('\n').find((l) => l.includes('GW_BUFFER_CORRUPT'))?.slice(0, 160) ?? '(no GW_BUFFER_CORRUPT line)'}`);

  // What the message tells the operator: move the file (and its -wal/-shm) away; the gateway starts on a fresh one.
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(`${cfg.bufferPath}${suffix}`)) renameSync(`${cfg.bufferPath}${suffix}`, `${cfg.bufferPath}.damaged${suffix}`);
  }
  const fresh = new GatewayProcess(cfg.file);
  ctx.cleanup(() => fresh.kill());
  await fresh.ready();
  const before = await topicSize(ctx.kafka.bootstrap, cfg.readingsTopic);
  const second = 1000;
  await publisher.publish(cfg.baseTopic, second, { devices: DEVICES });
  await waitFor('the fresh buffer delivered the new messages', () => deliveredInBuffer(cfg.bufferPath) === second && pendingInBuffer(cfg.bufferPath) === 0, {
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  const after = await topicSize(ctx.kafka.bootstrap, cfg.readingsTopic);
  const last = await fresh.stop();
  await publisher.close();
  return ctx.row('buffer-damaged', {
    trial: damage,
    acked,
    records: delivered.records,
    lost: delivered.lost,
    auditClean: delivered.auditClean,
    heldAtDamage: heldBefore,
    refusedExit: exit.code,
    corruptCode: stderr.includes('GW_BUFFER_CORRUPT'),
    advice,
    fileKept,
    freshDelivered: after - before,
    ok:
      stop.code === 0 &&
      acked === messages &&
      delivered.lost === 0 &&
      delivered.auditClean &&
      typeof exit.code === 'number' &&
      exit.code !== 0 &&
      stderr.includes('GW_BUFFER_CORRUPT') &&
      advice &&
      fileKept &&
      !refused.logs.some((l) => l.msg === 'gateway started') &&
      after - before === second &&
      last.code === 0,
  });
}

export const scenarios = [
  { name: 'disk-full', ci: true, description: "the buffer's tmpfs filled up for --fault-seconds/2 under load, then space returns", run: diskFull },
  {
    name: 'buffer-damaged',
    ci: true,
    description: 'the buffer file truncated, then pages overwritten, while the gateway is down: refused at start and kept; a fresh buffer after moving it away',
    run: async (ctx) => {
      for (const damage of Object.keys(DAMAGES)) await bufferDamaged(ctx, damage);
    },
  },
];
