// TEST-ONLY preload, never part of the product: loaded into the gateway process by test/systemd-notify.test.ts
// through NODE_OPTIONS=--import=<this file>. On SIGUSR2 it blocks the event loop with a busy wait for
// ETG_TEST_BLOCK_MS milliseconds (what a stuck loop looks like to the systemd watchdog) and writes a log line,
// in the gateway's pino JSON format, before and after, with the times in ms since the epoch.
import { writeSync } from 'node:fs';

const blockMs = Number(process.env.ETG_TEST_BLOCK_MS ?? 3000);
const log = (msg, fields) => writeSync(1, `${JSON.stringify({ level: 30, msg, ...fields })}\n`);

process.on('SIGUSR2', () => {
  const blockedAt = Date.now();
  log('test hook: event loop blocked', { blockedAt, blockMs });
  while (Date.now() < blockedAt + blockMs) {
    // busy: no timer, I/O callback or signal handler runs meanwhile
  }
  log('test hook: event loop unblocked', { blockedAt, unblockedAt: Date.now() });
});
