// A replicated Kafka cluster (3 KRaft nodes from the same jars, replication factor 3, min.insync.replicas 2,
// scripts/kafka-broker.mjs startCluster) under the gateway: the leader of the busiest partition SIGKILLed
// mid-stream; a rolling restart of all three; two nodes lost at once (writes must stall, unacknowledged, and
// resume). Pass: 0 acknowledged lost, audit clean, the buffer drains within RECOVERY_LIMIT_S once the cluster is
// healthy again (the producer is not stuck), recovery times reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { startCluster } from '../../scripts/kafka-broker.mjs';
import { checkDelivery, deliveredInBuffer, gatewayMetric, pendingInBuffer, sleep, waitFor, waitForQuiet } from './lib.mjs';

const { Kafka, logLevel } = kafkajs;
const DEVICES = 10;
const RATE_PER_SEC = 500;
/** Longest drain after the cluster is healthy again before the producer counts as stuck. */
const RECOVERY_LIMIT_S = 120;

async function ensureCluster(ctx) {
  if (ctx.cluster) return ctx.cluster;
  const dataDir = mkdtempSync(join(tmpdir(), 'etg-faults-cluster-'));
  ctx.cleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const t0 = Date.now();
  ctx.cluster = await startCluster({ dataDir });
  ctx.cleanup(() => ctx.cluster.stop());
  ctx.log(`kafka cluster ${ctx.cluster.bootstrap.join(',')} up in ${Math.round((Date.now() - t0) / 1000)} s`);
  return ctx.cluster;
}

/** Partitions of a topic: leader, replicas, in-sync replicas and the record count (high watermark − low). */
async function partitions(cluster, topic) {
  const alive = cluster.nodes.filter((n) => n.alive !== false).map((n) => n.bootstrap);
  const admin = new Kafka({ clientId: 'faults-cluster', brokers: alive, logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await admin.connect();
  try {
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const offsets = await admin.fetchTopicOffsets(topic);
    return meta.partitions.map((p) => {
      const o = offsets.find((x) => x.partition === p.partitionId);
      return { partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, records: Number(o?.high ?? 0) - Number(o?.low ?? 0) };
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function fullyReplicated(cluster, topic) {
  try {
    return (await partitions(cluster, topic)).every((p) => p.isr.length === p.replicas.length && p.leader >= 0);
  } catch {
    return false;
  }
}

async function kill(cluster, index) {
  cluster.nodes[index].alive = false;
  cluster.nodes[index].kill('SIGKILL');
  await cluster.nodes[index].waitForExit();
}

async function restart(cluster, index) {
  await cluster.restart(index);
}

/** Seconds from `since` until the gateway's delivered count moves past `from` again. */
async function deliveriesResume(bufferPath, from, since) {
  await waitFor('deliveries to resume', () => (deliveredInBuffer(bufferPath) ?? 0) > from, { timeoutMs: 300_000, intervalMs: 100 });
  return (Date.now() - since) / 1000;
}

async function clusterScenario(ctx, name, faultSeconds, fault) {
  const cluster = await ensureCluster(ctx);
  const { cfg, gateway, publisher } = await ctx.freshGateway(name, { brokers: cluster.bootstrap, bootstrap: cluster.bootstrap, replicationFactor: 3 });
  const total = RATE_PER_SEC * (faultSeconds + 30);
  const publishing = publisher.publish(cfg.baseTopic, total, { devices: DEVICES, ratePerSec: RATE_PER_SEC });
  await sleep(10_000);
  const details = await fault({ cluster, cfg, topic: cfg.readingsTopic });
  const healthyAt = Date.now();
  await publishing;
  await waitFor('buffer drained on the healthy cluster', () => pendingInBuffer(cfg.bufferPath) === 0, { timeoutMs: 600_000, intervalMs: 250 });
  const drainSeconds = (Date.now() - healthyAt) / 1000;
  await waitForQuiet(cluster.bootstrap, cfg.readingsTopic, cfg.bufferPath, publisher.acked.size);
  const result = await checkDelivery(cluster.bootstrap, cfg.readingsTopic, publisher.acked);
  const resendsRecognized = await gatewayMetric(gateway, 'etg_mqtt_resends_recognized_total');
  const stop = await gateway.stop();
  await publisher.close();
  return ctx.row(name, {
    acked: publisher.acked.size,
    ...details,
    drainSeconds: Number(drainSeconds.toFixed(1)),
    ...result,
    resendsRecognized,
    ok: (details.ok ?? true) && drainSeconds <= RECOVERY_LIMIT_S && result.lost === 0 && result.auditClean && stop.code === 0,
  });
}

/** SIGKILL the leader of the partition with the most records, restart it 15 s later. */
async function leaderKill(ctx) {
  return clusterScenario(ctx, 'cluster-leader-kill', 15, async ({ cluster, cfg, topic }) => {
    const parts = await partitions(cluster, topic);
    const busiest = parts.reduce((a, b) => (b.records > a.records ? b : a));
    const index = busiest.leader - 1;
    const delivered = deliveredInBuffer(cfg.bufferPath) ?? 0;
    const killedAt = Date.now();
    ctx.log(`cluster-leader-kill: SIGKILL node ${busiest.leader} (leader of partition ${busiest.partition}, ${busiest.records} records)`);
    await kill(cluster, index);
    const recoverySeconds = await deliveriesResume(cfg.bufferPath, delivered + 1, killedAt);
    await sleep(Math.max(0, killedAt + 15_000 - Date.now()));
    await restart(cluster, index);
    await waitFor('the restarted node back in every ISR', () => fullyReplicated(cluster, topic), { timeoutMs: 180_000, intervalMs: 1000 });
    return { killedNode: busiest.leader, recoverySeconds: Number(recoverySeconds.toFixed(1)) };
  });
}

/** Each node in turn: SIGTERM, start again, wait until every partition is fully replicated. */
async function rollingRestart(ctx) {
  return clusterScenario(ctx, 'cluster-rolling-restart', 60, async ({ cluster, topic }) => {
    const t0 = Date.now();
    for (let i = 0; i < cluster.nodes.length; i++) {
      ctx.log(`cluster-rolling-restart: node ${i + 1}`);
      await cluster.nodes[i].stop();
      await restart(cluster, i);
      await waitFor(`node ${i + 1} back in every ISR`, () => fullyReplicated(cluster, topic), { timeoutMs: 180_000, intervalMs: 1000 });
    }
    return { recoverySeconds: Number(((Date.now() - t0) / 1000).toFixed(1)) };
  });
}

/** Two of three nodes SIGKILLed: no quorum, no ISR of two; nothing may be acknowledged until they are back. */
async function twoDown(ctx) {
  const outage = Math.max(20, Math.round(ctx.args.faultSeconds / 2));
  return clusterScenario(ctx, 'cluster-two-down', outage, async ({ cluster, cfg }) => {
    ctx.log(`cluster-two-down: SIGKILL nodes 2 and 3 for ${outage} s`);
    await Promise.all([kill(cluster, 1), kill(cluster, 2)]);
    // A request in flight at the kill may still complete; after that nothing may be acknowledged.
    await sleep(3000);
    const deliveredAtStall = deliveredInBuffer(cfg.bufferPath) ?? 0;
    const pendingAtStall = pendingInBuffer(cfg.bufferPath) ?? 0;
    await sleep(outage * 1000 - 3000);
    const deliveredDuringStall = (deliveredInBuffer(cfg.bufferPath) ?? 0) - deliveredAtStall;
    const pendingBeforeRestart = pendingInBuffer(cfg.bufferPath) ?? 0;
    const restartedAt = Date.now();
    await Promise.all([restart(cluster, 1), restart(cluster, 2)]);
    const recoverySeconds = await deliveriesResume(cfg.bufferPath, deliveredAtStall + deliveredDuringStall, restartedAt);
    return {
      deliveredDuringStall,
      pendingGrewBy: pendingBeforeRestart - pendingAtStall,
      recoverySeconds: Number(recoverySeconds.toFixed(1)),
      ok: deliveredDuringStall === 0 && pendingBeforeRestart > pendingAtStall,
    };
  });
}

export const scenarios = [
  { name: 'cluster-leader-kill', ci: true, description: '3-node cluster: SIGKILL the leader of the busiest partition mid-stream', run: leaderKill },
  { name: 'cluster-rolling-restart', ci: true, description: '3-node cluster: SIGTERM and restart each node in turn', run: rollingRestart },
  { name: 'cluster-two-down', ci: true, description: '3-node cluster: two nodes SIGKILLed (writes stall unacknowledged), then back', run: twoDown },
];
