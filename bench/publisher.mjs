// Load generator (a separate process): publishes QoS 1 JSON messages to <base>/<prefix><n % devices> (prefix dev-) with the publish
// time in the payload, as fast as the broker acknowledges (window of in-flight publishes) or at a fixed rate.
// Prints one JSON line with what it did.
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    base: { type: 'string' },
    count: { type: 'string', default: '100000' },
    devices: { type: 'string', default: '50' },
    rate: { type: 'string', default: '0' },
    window: { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'dev-' },
  },
});
const count = Number(values.count);
const devices = Number(values.devices);
const rate = Number(values.rate);
const windowSize = Number(values.window);
const client = await mqtt.connectAsync(values.url, { clientId: `bench-pub-${process.pid}`, clean: true });
let acked = 0;
let inFlight = 0;
let resolveRoom;
const started = performance.now();
for (let n = 0; n < count; n++) {
  if (rate > 0) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
  while (inFlight >= windowSize) await new Promise((r) => (resolveRoom = r));
  inFlight += 1;
  const payload = `{"n":${n},"temperature":${20 + (n % 100) / 10},"humidity":${40 + (n % 50)},"t":${Date.now()}}`;
  client.publish(`${values.base}/${values.prefix}${n % devices}`, payload, { qos: 1 }, () => {
    acked += 1;
    inFlight -= 1;
    resolveRoom?.();
  });
}
while (acked < count) await new Promise((r) => (resolveRoom = r));
const seconds = (performance.now() - started) / 1000;
await client.endAsync();
// Its own CPU (start-up included), so a benchmark can say how much of the machine the load generator took.
const { user, system } = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ published: count, acked, seconds, rate: count / seconds, cpuSeconds: (user + system) / 1e6 })}\n`);
