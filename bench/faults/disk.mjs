// The buffer's file system fills up while messages flow: the buffer lives on a small tmpfs mounted for the
// scenario (needs root, as CI runs), which a filler file then fills. Pass: commits stall with GW_BUFFER_DISK_FULL
// and /readyz 503, nothing is committed meanwhile (so nothing more is acknowledged upstream: Mosquitto keeps the
// messages), the gateway resumes by itself once the filler is removed, 0 lost, audit clean.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferCounts, checkDelivery, gatewayMetric, pendingInBuffer, readyz, sleep, waitFor, waitForQuiet } from './lib.mjs';

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

export const scenarios = [
  { name: 'disk-full', ci: true, description: "the buffer's tmpfs filled up for --fault-seconds/2 under load, then space returns", run: diskFull },
];
