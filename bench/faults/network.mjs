// A flaky link between the gateway and its brokers: a TCP fault proxy (scripts/fault-proxy.mjs) in front of Kafka
// or of Mosquitto, one mode for --fault-seconds under a steady load, then healthy again. The Kafka proxy sits on a
// listener of the broker whose advertised address is the proxy's, so metadata sends the client back through it.
// Pass: the dead link is noticed within the configured timeouts (blackhole, reset), ingest into the buffer goes on
// while Kafka is unreachable, memory stays bounded, the gateway reconnects and drains, 0 lost, audit clean.
import { startFaultProxy } from '../../scripts/fault-proxy.mjs';
import { bufferCounts, checkDelivery, gatewayMetric, pendingInBuffer, rssMiB, sleep, waitFor, waitForQuiet } from './lib.mjs';

const DEVICES = 10;
const RATE_PER_SEC = 300;
/** The gateway's timeouts in these scenarios (what "noticed within its configured timeouts" is measured against). */
const MQTT_KEEPALIVE_S = 5;
const KAFKA_REQUEST_TIMEOUT_S = 5;
/**
 * A send on a dead link fails once every attempt within it timed out: the kafkajs transport makes 1 + 2 attempts
 * (src/forwarder/kafka-transport.ts), each waiting up to kafka.requestTimeout. RELIABILITY.md has what this means
 * with the default 30 s.
 */
const KAFKA_DETECT_TIMEOUTS = 3;
/** Scheduling slack on a loaded 2-core machine on top of the configured timeouts. */
const SLACK_S = 5;
const RSS_LIMIT_MIB = 512;

const MODES = {
  blackhole: () => ({ mode: 'blackhole' }),
  latency: () => ({ mode: 'latency', latencyMs: 500 }),
  bandwidth: (target) => ({ mode: 'bandwidth', bytesPerSecond: target === 'kafka' ? 20_000 : 10_000 }),
  reset: () => ({ mode: 'reset', everyMs: 3000 }),
};

/** Events ever committed to a buffer file (pending + delivered). */
function committedInBuffer(path) {
  return bufferCounts(path)?.total;
}

async function linkFault(ctx, target, modeName, listenerIndex) {
  const seconds = ctx.args.faultSeconds;
  await ctx.ensureBrokers();
  let proxy;
  const options = { mqttInput: { keepalive: MQTT_KEEPALIVE_S }, kafka: { requestTimeout: `${KAFKA_REQUEST_TIMEOUT_S}s` } };
  if (target === 'kafka') {
    const listener = ctx.proxiedListener(listenerIndex);
    proxy = await startFaultProxy({ target: { port: listener.port }, port: listener.advertisedPort });
    options.brokers = [proxy.address];
  } else {
    proxy = await startFaultProxy({ target: { port: ctx.mqtt.port } });
    options.mqttUrl = `mqtt://${proxy.address}`;
  }
  ctx.cleanup(() => proxy.close());
  const name = `net-${target}-${modeName}`;
  const { cfg, gateway, publisher } = await ctx.freshGateway(name, options);
  const total = RATE_PER_SEC * (seconds + 20);
  const publishing = publisher.publish(cfg.baseTopic, total, { devices: DEVICES, ratePerSec: RATE_PER_SEC });
  let rssMax = 0;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssMiB(gateway.child.pid) ?? 0);
  }, 500);
  try {
    await sleep(10_000); // healthy traffic first
    const rssBefore = rssMiB(gateway.child.pid);
    const committedAtFault = committedInBuffer(cfg.bufferPath) ?? 0;
    const connectsBefore = gateway.logs.filter((l) => l.msg === 'mqtt connected').length;
    const faultAt = Date.now();
    proxy.setMode(MODES[modeName](target));
    ctx.log(`${name}: ${JSON.stringify(proxy.mode)} for ${seconds} s`);
    // Noticing a dead link: the forwarder's first failed send (GW_KAFKA_SEND), or the MQTT input disconnected.
    let detectSeconds;
    const detecting = (async () => {
      if (modeName !== 'blackhole') return;
      const deadline = faultAt + seconds * 1000;
      while (Date.now() < deadline && detectSeconds === undefined) {
        if (target === 'kafka') {
          // Log times are ISO strings (the gateway's logger).
          const failed = gateway.logs.find((l) => l.code === 'GW_KAFKA_SEND' && Date.parse(l.time) >= faultAt);
          if (failed) detectSeconds = (Date.parse(failed.time) - faultAt) / 1000;
        } else if ((await gatewayMetric(gateway, 'etg_mqtt_connected')) === 0) detectSeconds = (Date.now() - faultAt) / 1000;
        await sleep(200);
      }
    })();
    await sleep(seconds * 1000);
    await detecting;
    const committedAtHeal = committedInBuffer(cfg.bufferPath) ?? 0;
    const pendingAtHeal = pendingInBuffer(cfg.bufferPath) ?? 0;
    proxy.setMode({ mode: 'pass' });
    const healedAt = Date.now();
    // Recovered = the backlog is down to about one second of traffic again (the publisher goes on meanwhile).
    await waitFor('backlog drained after the link came back', () => (pendingInBuffer(cfg.bufferPath) ?? Infinity) <= RATE_PER_SEC, { timeoutMs: 300_000, intervalMs: 250 });
    const recoverySeconds = (Date.now() - healedAt) / 1000;
    await publishing;
    await waitFor('buffer drained', () => pendingInBuffer(cfg.bufferPath) === 0, { timeoutMs: 300_000, intervalMs: 250 });
    clearInterval(sampler);
    await waitForQuiet(ctx.kafka.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
    const result = await checkDelivery(ctx.kafka.bootstrap, cfg.readingsTopic, publisher.acked);
    const resendsRecognized = await gatewayMetric(gateway, 'etg_mqtt_resends_recognized_total');
    const stop = await gateway.stop();
    await publisher.close();
    const detectBound = target === 'kafka' ? KAFKA_DETECT_TIMEOUTS * KAFKA_REQUEST_TIMEOUT_S + SLACK_S : 2 * MQTT_KEEPALIVE_S + SLACK_S;
    // Only a blackhole is a dead link; resets are reconnected at once and latency or a thin pipe still deliver.
    const mustDetect = modeName === 'blackhole';
    const noticed = !mustDetect || (detectSeconds !== undefined && detectSeconds <= detectBound);
    // With Kafka unreachable or slow, MQTT messages keep being committed to the buffer.
    const ingestWentOn = target !== 'kafka' || committedAtHeal > committedAtFault;
    const mqttConnects = gateway.logs.filter((l) => l.msg === 'mqtt connected').length - connectsBefore;
    const reconnected = target !== 'mqtt' || (modeName !== 'blackhole' && modeName !== 'reset') || mqttConnects > 0;
    return ctx.row(name, {
      acked: publisher.acked.size,
      mode: JSON.stringify(MODES[modeName](target)),
      detectSeconds: detectSeconds === undefined ? undefined : Number(detectSeconds.toFixed(1)),
      detectBound: mustDetect ? detectBound : undefined,
      ingestedDuringFault: committedAtHeal - committedAtFault,
      pendingAtHeal,
      recoverySeconds: Number(recoverySeconds.toFixed(1)),
      rssBeforeMiB: rssBefore,
      rssMaxMiB: rssMax,
      proxyResets: proxy.stats.resets,
      mqttReconnects: mqttConnects,
      ...result,
      resendsRecognized,
      ok: noticed && ingestWentOn && reconnected && rssMax < RSS_LIMIT_MIB && result.lost === 0 && result.auditClean && stop.code === 0,
    });
  } finally {
    clearInterval(sampler);
  }
}

export const scenarios = ['kafka', 'mqtt'].flatMap((target) =>
  Object.keys(MODES).map((mode, i) => ({
    name: `net-${target}-${mode}`,
    ci: true,
    description: `fault proxy in front of ${target === 'kafka' ? 'Kafka' : 'Mosquitto'}: ${mode} for --fault-seconds under ${RATE_PER_SEC} msg/s`,
    run: (ctx) => linkFault(ctx, target, mode, i),
  })),
);
