// The single Kafka broker SIGKILLed for --outage seconds while messages flow; next to the gateway under test, two
// gateways with a small buffer cap go through the same outage: drop-oldest (every drop declared by gap events)
// and block (nothing dropped, MQTT not acknowledged while full).
import { checkDelivery, pendingInBuffer, sleep, waitFor, waitForQuiet } from './lib.mjs';

const DEVICES = 10;
/** The capped gateways of the drop-oldest and block checks. */
const CAP_EVENTS = 5000;
const CAPPED_MESSAGES = 20_000;

async function cappedGateway(ctx, whenFull) {
  const g = await ctx.freshGateway(whenFull, { buffer: { maxEvents: CAP_EVENTS, whenFull, maxEventsPerCommit: 500 } });
  const ratePerSec = Math.max(100, Math.round(CAPPED_MESSAGES / (ctx.args.outage + 30)));
  g.publishing = g.publisher.publish(g.cfg.baseTopic, CAPPED_MESSAGES, { devices: DEVICES, ratePerSec });
  g.maxPending = 0;
  g.sampler = setInterval(() => {
    const pending = pendingInBuffer(g.cfg.bufferPath) ?? 0;
    if (pending > g.maxPending) g.maxPending = pending;
  }, 250);
  g.whenFull = whenFull;
  return g;
}

async function finishCapped(ctx, g) {
  await g.publishing;
  await waitForQuiet(ctx.kafka.bootstrap, g.cfg.readingsTopic, g.cfg.bufferPath, 1);
  clearInterval(g.sampler);
  const result = await checkDelivery(ctx.kafka.bootstrap, g.cfg.readingsTopic, g.publisher.acked);
  const stop = await g.gateway.stop();
  await g.publisher.close();
  const common = { acked: g.publisher.acked.size, cap: CAP_EVENTS, maxPending: g.maxPending, ...result };
  if (g.whenFull === 'drop-oldest') {
    // Every acknowledged reading is in Kafka or declared by a gap event, and the audit finds no undeclared hole.
    return ctx.row(`cap ${CAP_EVENTS}, drop-oldest, kafka down`, {
      ...common,
      // Here "lost" is what no gap event declared; the declared drops are in "dropped".
      dropped: result.lost,
      lost: result.undeclaredLost,
      ok: result.gapCount > 0 && result.gapsMatchLoss && result.auditMissing === 0 && result.outOfOrder === 0 && result.kcatAgrees && stop.code === 0,
    });
  }
  // block: nothing dropped, and the backlog stayed at the cap (plus at most one commit group).
  return ctx.row(`cap ${CAP_EVENTS}, block, kafka down`, {
    ...common,
    ok: result.lost === 0 && result.gapEvents === 0 && result.auditClean && g.maxPending <= CAP_EVENTS + 500 && stop.code === 0,
  });
}

async function kafkaOutage(ctx) {
  const { args } = ctx;
  const { cfg, gateway, publisher } = await ctx.freshGateway('kafka-outage');
  const capped = [];
  if (ctx.want('drop-oldest')) capped.push(await cappedGateway(ctx, 'drop-oldest'));
  if (ctx.want('block')) capped.push(await cappedGateway(ctx, 'block'));
  // Spread the messages over the outage and some time either side, so they flow before, during and after it.
  const ratePerSec = Math.max(500, Math.round(args.messages / (args.outage + 30)));
  const publishing = publisher.publish(cfg.baseTopic, args.messages, { devices: DEVICES, ratePerSec });
  await waitFor('some messages through', () => publisher.acked.size >= Math.min(args.messages / 10, ratePerSec * 10), { timeoutMs: 120_000 });
  ctx.log(`kafka outage: SIGKILL the broker for ${args.outage} s (${publisher.acked.size} acknowledged so far)`);
  ctx.kafka.kill('SIGKILL');
  await ctx.kafka.waitForExit();
  await sleep(args.outage * 1000);
  const backlog = pendingInBuffer(cfg.bufferPath) ?? 0;
  ctx.log(`kafka outage: restarting the broker on port ${ctx.kafka.port}; backlog ${backlog}`);
  await ctx.restartKafka();
  const restartedAt = Date.now();
  await waitFor('backlog drained', () => pendingInBuffer(cfg.bufferPath) === 0 || undefined, { timeoutMs: 600_000, intervalMs: 100 });
  const drainS = (Date.now() - restartedAt) / 1000;
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const stop = await gateway.stop();
  await publisher.close();
  ctx.row(`kafka SIGKILLed ${args.outage} s`, {
    acked: publisher.acked.size,
    backlogAtRestart: backlog,
    drainSeconds: Number(drainS.toFixed(1)),
    ...result,
    ok: result.lost === 0 && result.auditClean && stop.code === 0,
  });
  for (const g of capped) await finishCapped(ctx, g);
}

export const scenarios = [
  {
    name: 'kafka',
    aliases: ['drop-oldest', 'block'],
    ci: true,
    description: 'the Kafka broker SIGKILLed for --outage s; capped drop-oldest and block gateways through the same outage',
    run: kafkaOutage,
  },
];
