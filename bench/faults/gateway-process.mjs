// Faults of the gateway process and of Mosquitto: SIGKILL at a random moment (× trials), SIGTERM under load,
// Mosquitto restarted. The SIGKILL trials also count MQTT redeliveries that became second events (target 0:
// the MQTT input recognises the broker's resends by their receipts, src/inputs/mqtt/README.md).
import { GatewayProcess, checkDelivery, gatewayMetric, pendingInBuffer, waitFor, waitForQuiet } from './lib.mjs';

const DEVICES = 10;

async function crashTrial(ctx, trial) {
  const { args } = ctx;
  const { cfg, gateway: first, publisher } = await ctx.freshGateway(`crash${trial}`);
  let gateway = first;
  const t0 = Date.now();
  const publishing = publisher.publish(cfg.baseTopic, args.messages, { devices: DEVICES });
  // A random moment while the messages flow: after 5 %..95 % of them were acknowledged.
  const killAt = Math.floor(args.messages * (0.05 + Math.random() * 0.9));
  await waitFor(`publisher past ${killAt}`, () => publisher.acked.size >= killAt, { timeoutMs: 300_000, intervalMs: 2 });
  const pendingBefore = pendingInBuffer(cfg.bufferPath);
  await gateway.kill();
  gateway = new GatewayProcess(cfg.file);
  ctx.cleanup(() => gateway.kill());
  await gateway.ready();
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const elapsedS = (Date.now() - t0) / 1000;
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const resendsRecognized = await gatewayMetric(gateway, 'etg_mqtt_resends_recognized_total');
  const stop = await gateway.stop();
  await publisher.close();
  // MQTT connections beyond the first of each process: every reconnect makes the broker redeliver what was unacknowledged.
  const extraConnects = [first, gateway].reduce((sum, g) => sum + Math.max(0, g.logs.filter((l) => l.msg === 'mqtt connected').length - 1), 0);
  return ctx.row('crash (SIGKILL gateway)', {
    trial,
    acked: publisher.acked.size,
    killedAt: killAt,
    pendingAtKill: pendingBefore ?? 0,
    extraConnects,
    ...result,
    resendsRecognized,
    seconds: Math.round(elapsedS),
    ok: result.lost === 0 && result.duplicateRedelivered === 0 && result.auditClean && result.auditMissing === 0 && stop.code === 0,
  });
}

async function sigtermUnderLoad(ctx) {
  const { cfg, gateway: first, publisher } = await ctx.freshGateway('sigterm');
  const publishing = publisher.publish(cfg.baseTopic, ctx.args.messages, { devices: DEVICES });
  await waitFor('half through', () => publisher.acked.size >= ctx.args.messages / 2, { timeoutMs: 300_000, intervalMs: 2 });
  const stop = await first.stop();
  const gateway = new GatewayProcess(cfg.file);
  ctx.cleanup(() => gateway.kill());
  await gateway.ready();
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
  const last = await gateway.stop();
  await publisher.close();
  return ctx.row('SIGTERM under load', {
    acked: publisher.acked.size,
    exitCode: stop.code,
    stopMs: stop.ms,
    ...result,
    // drainTimeout is 10 s; inputs stop and the buffer commits before the drain starts.
    ok: stop.code === 0 && stop.ms <= 15_000 && result.lost === 0 && result.auditClean && last.code === 0,
  });
}

async function mosquittoRestart(ctx) {
  const { args } = ctx;
  const { cfg, gateway, publisher } = await ctx.freshGateway('mqtt-restart');
  const ratePerSec = Math.max(1000, Math.round(args.messages / 30));
  const publishing = publisher.publish(cfg.baseTopic, args.messages, { devices: DEVICES, ratePerSec });
  await waitFor('a third through', () => publisher.acked.size >= args.messages / 3, { timeoutMs: 300_000 });
  ctx.log(`mosquitto restart (${publisher.acked.size} acknowledged so far, last published ${publisher.attempted - 1})`);
  await ctx.mqtt.stop('SIGTERM'); // saves its persistence file (sessions, queued messages) on the way out
  ctx.log(`mosquitto stopped (${publisher.acked.size} acknowledged, last published ${publisher.attempted - 1})`);
  await ctx.restartMosquitto();
  await publishing;
  await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  // The publisher's own connection drops with the broker too: what MQTT.js sends twice is counted apart.
  const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked, undefined, publisher.resent);
  const connects = gateway.logs.filter((l) => l.msg === 'mqtt connected');
  const reconnects = connects.length - 1;
  // Whether the broker still had the gateway's session (subscriptions, queued messages) after its restart.
  const sessionResumed = connects.slice(1).every((l) => l.sessionPresent === true);
  const resendsRecognized = await gatewayMetric(gateway, 'etg_mqtt_resends_recognized_total');
  const stop = await gateway.stop();
  await publisher.close();
  return ctx.row('mosquitto restarted', {
    acked: publisher.acked.size,
    gatewayReconnects: reconnects,
    sessionResumed,
    publisherResent: publisher.resent.size,
    ...result,
    resendsRecognized,
    ok: result.lost === 0 && result.duplicateRedelivered === 0 && result.auditClean && stop.code === 0 && sessionResumed,
  });
}

export const scenarios = [
  {
    name: 'crash',
    ci: true,
    description: 'SIGKILL the gateway at a random 5–95 % of --messages, restart at once (× --trials)',
    async run(ctx) {
      for (let t = 1; t <= ctx.args.trials; t++) {
        try {
          await crashTrial(ctx, t);
        } catch (err) {
          ctx.row(`crash trial ${t}`, { ok: false, error: String(err?.message ?? err).slice(0, 300) });
        }
      }
    },
  },
  { name: 'sigterm', ci: true, description: 'SIGTERM at 50 % under full load, restart, finish', run: sigtermUnderLoad },
  { name: 'mosquitto', ci: true, description: 'Mosquitto stopped and started on its data at a third of the stream', run: mosquittoRestart },
];
