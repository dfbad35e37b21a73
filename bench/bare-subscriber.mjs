// The floor under the gateway's CPU at a moderate rate (a separate process): a bare MQTT.js QoS 1 subscriber on the
// same MQTT 5 session settings as the gateway's input (Receive Maximum 1,000) that only parses each payload as JSON
// and lets MQTT.js acknowledge it. No buffer, no Kafka: what receiving alone costs in Node with the mqtt package.
// Prints 'ready' once subscribed, then one JSON line once --count messages arrived: the CPU of the messages after
// --warmup (user + system of the whole process, per 1,000 messages) and its peak RSS.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    topic: { type: 'string' },
    count: { type: 'string' },
    warmup: { type: 'string', default: '0' },
  },
});
const count = Number(values.count);
const warmup = Number(values.warmup);
const client = await mqtt.connectAsync(values.url, { clientId: `bench-bare-${process.pid}`, clean: true, protocolVersion: 5, properties: { receiveMaximum: 1000 } });
let received = 0;
let cpuAtWarmup = warmup === 0 ? process.cpuUsage() : undefined;
client.on('message', (_topic, payload) => {
  JSON.parse(payload.toString());
  received += 1;
  if (received === warmup) cpuAtWarmup = process.cpuUsage();
  if (received < count) return;
  const { user, system } = process.cpuUsage(cpuAtWarmup);
  const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
  process.stdout.write(`${JSON.stringify({ received, cpuPer1k: (user + system) / 1000 / ((count - warmup) / 1000), rss: peakRssMb })}\n`);
  client.end(true, () => process.exit(0));
});
await client.subscribeAsync(values.topic, { qos: 1 });
process.stdout.write('ready\n');
