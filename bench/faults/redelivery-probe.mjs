#!/usr/bin/env node
// Diagnostic behind RELIABILITY.md "Why a SIGKILL made Mosquitto redeliver thousands of committed messages":
// a gateway process (no Kafka: events stay in the buffer, as when the forwarder lags) takes QoS 1 messages from
// a private Mosquitto at full speed and is SIGKILLed halfway. Right before the kill the socket queues of the
// gateway's MQTT connection are read with `ss` on both ends (Recv-Q on Mosquitto's side = our PUBACK bytes it has
// not read yet; Recv-Q on the gateway's side = PUBLISH bytes we have not read yet). After a restart the buffer is
// counted: message numbers stored twice are redeliveries that became second events.
//
//   node bench/faults/redelivery-probe.mjs [--messages 30000] [--recognize false] [--inflight 1000] [--via-proxy]
//
// --via-proxy puts scripts/fault-proxy.mjs (pass mode) between the gateway and Mosquitto: the proxy reads the
// gateway's socket eagerly and ends its upstream with a FIN, so it shows what changes when Mosquitto is not reset.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { openBufferReadOnly } from '../../dist/buffer/reader.js';
import { findFreePort } from '../../scripts/kafka-broker.mjs';
import { startFaultProxy } from '../../scripts/fault-proxy.mjs';
import { startMosquitto } from '../../scripts/mosquitto.mjs';
import { GatewayProcess, Publisher, httpPort, pendingInBuffer, sleep, uniqueName, waitFor, writeGatewayConfig } from './lib.mjs';

/** How many times each message number (a reading's value) is stored, read with the gateway's read-only reader. */
function storedValueCounts(path) {
  const reader = openBufferReadOnly(path);
  try {
    const next = reader.pager({ types: ['reading'] });
    const counts = new Map();
    for (let after = 0; ; ) {
      const page = next(after, 10_000);
      if (page.length === 0) return counts;
      for (const e of page) {
        const n = JSON.parse(e.payload).value;
        counts.set(n, (counts.get(n) ?? 0) + 1);
      }
      after = page[page.length - 1].pos;
    }
  } finally {
    reader.close();
  }
}

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '30000' },
    recognize: { type: 'string', default: 'false' },
    inflight: { type: 'string', default: '1000' },
    'via-proxy': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(args.messages);

/** Recv-Q / Send-Q of the established connections to `port` (both ends), from `ss -tn`. */
function socketQueues(port) {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} or dport = :${port} )`]).toString();
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [recvQ, sendQ, local, peer] = line.trim().split(/\s+/);
      return { recvQ: Number(recvQ), sendQ: Number(sendQ), local, peer };
    });
}

const mqttDir = mkdtempSync(join(tmpdir(), 'etg-probe-mqtt-'));
chmodSync(mqttDir, 0o777);
const mosquitto = await startMosquitto({ dataDir: mqttDir, persistence: true });
/**
 * With --via-proxy: the MQTT packets on the wire, per connection. Broker → gateway PUBLISH (QoS 1) by packet id
 * and gateway → broker PUBACK; `unacked` is what the broker sent that we had not acknowledged on the wire.
 */
const wire = { connections: new Map(), maxUnacked: 0, ackedIds: new Set(), resent: 0, resentAckedOnWire: 0, firstDone: false };
function tap(direction, chunk, id) {
  let c = wire.connections.get(id);
  if (!c) {
    c = { up: mqttPacket.parser({ protocolVersion: 5 }), down: mqttPacket.parser({ protocolVersion: 5 }), unacked: new Set() };
    c.down.on('packet', (p) => {
      if (p.cmd !== 'publish' || p.qos !== 1) return;
      if (p.dup && wire.firstDone) {
        wire.resent += 1;
        if (wire.ackedIds.has(p.messageId)) wire.resentAckedOnWire += 1;
      }
      c.unacked.add(p.messageId);
      wire.maxUnacked = Math.max(wire.maxUnacked, c.unacked.size);
    });
    c.up.on('packet', (p) => {
      if (p.cmd !== 'puback') return;
      c.unacked.delete(p.messageId);
      if (!wire.firstDone) wire.ackedIds.add(p.messageId);
    });
    c.up.on('error', () => undefined);
    c.down.on('error', () => undefined);
    wire.connections.set(id, c);
  }
  c[direction].parse(chunk);
}
const proxy = args['via-proxy'] ? await startFaultProxy({ target: { port: mosquitto.port }, onData: tap }) : undefined;
const gatewayId = uniqueName('probe');
const deadKafka = `127.0.0.1:${await findFreePort()}`;
const cfg = writeGatewayConfig({
  gatewayId,
  brokers: [deadKafka],
  mqttUrl: proxy ? `mqtt://127.0.0.1:${proxy.port}` : mosquitto.url,
  mqttInput: { inflight: Number(args.inflight), recognizeResends: args.recognize === 'true' },
});
let gateway = new GatewayProcess(cfg.file);
await gateway.ready();
const publisher = await Publisher.connect(mosquitto.url, `${gatewayId}-pub`);
const publishing = publisher.publish(cfg.baseTopic, MESSAGES, { devices: 10 });
await waitFor('half acknowledged by Mosquitto', () => publisher.acked.size >= MESSAGES / 2, { timeoutMs: 300_000, intervalMs: 2 });
const queues = socketQueues(mosquitto.port);
const pendingAtKill = pendingInBuffer(cfg.bufferPath);
const unackedAtKill = [...wire.connections.values()].reduce((n, c) => n + c.unacked.size, 0);
await gateway.kill();
// Packet ids the first process acknowledged on the wire, minus those reused since: a DUP=1 resend of one of
// them after the restart means the broker resent a message whose PUBACK it had been given.
wire.ackedIdsAtKill = wire.ackedIds.size;
wire.firstDone = true;
const t0 = Date.now();
gateway = new GatewayProcess(cfg.file);
await gateway.ready();
await publishing;
// Quiet: every message Mosquitto acknowledged is in the buffer (no Kafka: nothing leaves it).
let stored = 0;
await waitFor('all messages stored', () => {
  stored = storedValueCounts(cfg.bufferPath).size;
  return stored >= MESSAGES;
}, { timeoutMs: 300_000, intervalMs: 500 });
await sleep(1500);
const twice = [...storedValueCounts(cfg.bufferPath)]
  .filter(([, c]) => c > 1)
  .map(([n, c]) => ({ n, c }))
  .sort((a, b) => a.n - b.n);
const metricsText = await fetch(`http://127.0.0.1:${httpPort(gateway) ?? 0}/metrics`).then((r) => r.text()).catch(() => '');
const recognized = /etg_mqtt_resends_recognized_total\{[^}]*\} (\d+)/.exec(metricsText)?.[1];
await gateway.stop();
await publisher.close();
await proxy?.close();
await mosquitto.stop();
rmSync(mqttDir, { recursive: true, force: true });
rmSync(cfg.dir, { recursive: true, force: true });
const gatewaySide = queues.filter((q) => q.peer.endsWith(`:${proxy ? proxy.port : mosquitto.port}`) || (!proxy && q.peer.endsWith(`:${mosquitto.port}`)));
console.log(
  JSON.stringify({
    messages: MESSAGES,
    inflight: Number(args.inflight),
    recognizeResends: args.recognize === 'true',
    viaProxy: Boolean(proxy),
    pendingAtKill,
    socketsAtKill: queues,
    mosquittoUnreadPubackBytes: queues.filter((q) => q.local.endsWith(`:${mosquitto.port}`)).map((q) => q.recvQ),
    gatewaySide: gatewaySide.map((q) => ({ recvQ: q.recvQ, sendQ: q.sendQ })),
    storedTwice: twice.length,
    twiceRange: twice.length ? `${twice[0].n}-${twice[twice.length - 1].n}` : '',
    resendsRecognized: recognized === undefined ? null : Number(recognized),
    restartMs: Date.now() - t0,
    ...(proxy ? { wire: { maxUnackedOnWire: wire.maxUnacked, unackedAtKill, resentAfterRestart: wire.resent, resentButAckedOnWire: wire.resentAckedOnWire } } : {}),
  }),
);
process.exit(0);
