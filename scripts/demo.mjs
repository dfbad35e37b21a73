// npm run demo: simulated devices → MQTT, Modbus and serial → the gateway → a local Kafka, and once a second what
// reached each Kafka topic, read back from Kafka. Starts a Kafka broker (KRaft, from the Maven jars) when none answers
// on 127.0.0.1:9092 and a private Mosquitto when none answers on 127.0.0.1:1883; Ctrl-C (or SIGINT/SIGTERM to the
// pid of `npm run demo`: the npm script execs this process) stops everything it started.
//
// The demo keeps its buffer across runs (like a real gateway): seq continues where the last run stopped, so
// `telemetry-gateway audit` over the demo topics stays clean however often it runs. Delete the state folder to
// start over (together with the topics, or audit sees seq begin again at 0).
//
// Options: --seconds N (stop by itself after N seconds; used by the demo's test), --kafka-port N, --mqtt-port N,
// --state-dir DIR (buffer, generated config, logs; default .cache/demo), --tail (show every event as
// `telemetry-gateway tail` prints it instead of the per-topic table).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { isBrokerUp, isPortFree, kafkaJarsCached, startBroker } from './kafka-broker.mjs';
import { isPortOpen, startMosquitto } from './mosquitto.mjs';
import { DEMO_EXTRAS } from './demo-extras.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    'kafka-port': { type: 'string', default: process.env.KAFKA_PORT ?? '9092' },
    'mqtt-port': { type: 'string', default: '1883' },
    'state-dir': { type: 'string', default: join(root, '.cache', 'demo') },
    help: { type: 'boolean', short: 'h' },
    tail: { type: 'boolean' },
  },
});
if (args.help) {
  console.log('usage: npm run demo [-- --seconds N] [--kafka-port 9092] [--mqtt-port 1883] [--state-dir .cache/demo] [--tail]');
  process.exit(0);
}
const kafkaPort = Number(args['kafka-port']);
const mqttPort = Number(args['mqtt-port']);
const demoDir = resolve(args['state-dir']);
/** Paths as the user can paste them from the repository root (where npm runs the demo). */
const shown = (path) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
mkdirSync(demoDir, { recursive: true });

// One demo per state folder: two gateways must not share a buffer.
const lockFile = join(demoDir, 'demo.pid');
try {
  const holder = Number(readFileSync(lockFile, 'utf8'));
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid) {
    process.kill(holder, 0);
    console.error(`another demo (pid ${holder}) is running with ${shown(demoDir)}; stop it first or pass --state-dir`);
    process.exit(1);
  }
} catch {
  // no lock file, or its process is gone
}
writeFileSync(lockFile, String(process.pid));

const cleanups = [() => rmSync(lockFile, { force: true })];
let stopping = false;
/** What reached Kafka so far, once the read-back runs (printed however the demo stops). */
let summary;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (process.stdout.writable) process.stdout.write(`\n${summary?.() ?? ''}stopping the demo...\n`);
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error(`cleanup failed: ${err.message}`);
    }
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
// Whatever ends the demo stops what it started: a closed output (`npm run demo | head`), or a failure of its own.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') void shutdown(0);
});
for (const event of ['uncaughtException', 'unhandledRejection']) {
  process.on(event, (err) => {
    console.error(`the demo failed: ${err?.stack ?? err}`);
    void shutdown(1);
  });
}

function say(text) {
  process.stdout.write(`${text}\n`);
}

// 1. Kafka
const bootstrap = `127.0.0.1:${kafkaPort}`;
if (await isBrokerUp(kafkaPort)) {
  say(`kafka     ${bootstrap} (already running)`);
} else {
  const fetching = kafkaJarsCached() ? '' : ' — fetching its jars with Maven into .cache/kafka/ first';
  say(`kafka     starting Apache Kafka (KRaft) on ${bootstrap}${fetching}...`);
  const broker = await startBroker({ port: kafkaPort });
  cleanups.push(() => broker.stop());
  say(`kafka     ${broker.bootstrap} started (log ${broker.logFile})`);
}

// 2. Mosquitto
let mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
if (await isPortOpen(mqttPort)) {
  say(`mqtt      ${mqttUrl} (already running)`);
} else {
  const broker = await startMosquitto({ port: mqttPort, dataDir: join(demoDir, 'mosquitto') });
  mqttUrl = broker.url;
  cleanups.push(() => broker.stop());
  say(`mqtt      ${mqttUrl} started (private Mosquitto)`);
}

// 3. The gateway, on config/demo.yaml with the broker addresses of this run. Its buffer stays across runs.
const demoConfig = parse(readFileSync(join(root, 'config', 'demo.yaml'), 'utf8'));
demoConfig.kafka.brokers = [bootstrap];
demoConfig.buffer.path = join(demoDir, 'buffer.db');
// The status page on its usual port when that is free, else on any free port (the gateway logs which).
demoConfig.http = { ...demoConfig.http, port: (await isPortFree(9464)) ? 9464 : 0 };
for (const input of demoConfig.inputs) if (input.type === 'mqtt') input.url = mqttUrl;
const extras = [];
for (const extra of DEMO_EXTRAS) {
  const started = await extra.start({ root, demoDir, say, mqttUrl });
  if (!started) continue;
  extras.push({ name: extra.name, what: extra.what, ...started });
  cleanups.push(() => started.stop());
  demoConfig.inputs.push(...started.inputs);
}
const configFile = join(demoDir, 'gateway.yaml');
writeFileSync(configFile, `# generated by scripts/demo.mjs from config/demo.yaml\n${stringify(demoConfig)}`);
const prefix = demoConfig.kafka.topics.prefix;
const topics = ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'].map((t) => `${prefix}${t}`);

const kafka = new Kafka({ clientId: 'demo-reader', brokers: [bootstrap], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true }).catch(() => false);
// Where each partition ends before this run's gateway starts: the read-back below counts from there. (A new consumer
// group starting at "latest" would miss what the gateway writes while the group still joins — seconds on a fresh
// broker, whose offsets topic is created on that first join.)
const startOffsets = new Map();
for (const topic of topics) {
  // Just created, a partition's leader may not be known to every broker yet: ask again for a while.
  for (let attempt = 1; ; attempt++) {
    try {
      for (const p of await admin.fetchTopicOffsets(topic)) startOffsets.set(`${topic}/${p.partition}`, BigInt(p.high));
      break;
    } catch (err) {
      if (attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
await admin.disconnect();

const gatewayLog = join(demoDir, 'gateway.log');
const gateway = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'run', '--config', configFile], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const logStream = createWriteStream(gatewayLog, { flags: 'a' });
gateway.stdout.pipe(logStream);
// The status page address, from the gateway's own log line (the real host and port).
const statusPage = new Promise((resolveUrl) => {
  let partial = '';
  gateway.stdout.on('data', (chunk) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"status page: ')) continue;
      try {
        resolveUrl(JSON.parse(line).url);
      } catch {
        // not a JSON log line
      }
    }
  });
  setTimeout(() => resolveUrl(undefined), 30_000).unref();
});
gateway.stderr.on('data', (chunk) => process.stderr.write(chunk));
const gatewayExit = new Promise((r) => gateway.once('exit', r));
cleanups.push(async () => {
  if (gateway.exitCode === null) gateway.kill('SIGTERM');
  await gatewayExit;
});
gateway.once('exit', (code) => {
  if (!stopping) {
    console.error(`the gateway exited (${code}); its log: ${gatewayLog}`);
    void shutdown(1);
  }
});
say(`gateway   ${join('dist', 'cli.js')} run --config ${shown(configFile)} (pid ${gateway.pid}, log ${shown(gatewayLog)})`);
say(`buffer    ${shown(demoConfig.buffer.path)}, kept across runs: seq continues where the last run stopped, so audit stays clean (delete ${shown(demoDir)} to start over)`);

// 4. Simulated MQTT devices: Zigbee2MQTT sensors (payload shapes from real Zigbee2MQTT logs) and smart plugs.
const publisher = await mqtt.connectAsync(mqttUrl, { clientId: `demo-devices-${process.pid}` });
cleanups.push(() => publisher.endAsync());
const sensors = [
  { name: 'living_room', temperature: 21.4, humidity: 48.2, battery: 97 },
  { name: 'bathroom', temperature: 23.9, humidity: 61.5, battery: 80, pressure: 1001.8 },
  { name: 'hallway_motion', occupancy: false, battery: 100 },
];
let tick = 0;
const drift = (v, step, min, max) => Math.min(max, Math.max(min, Math.round((v + (Math.random() - 0.5) * step) * 100) / 100));
const simulator = setInterval(() => {
  tick += 1;
  for (const s of sensors) {
    if ('temperature' in s) s.temperature = drift(s.temperature, 0.3, 15, 30);
    if ('humidity' in s) s.humidity = drift(s.humidity, 0.8, 30, 90);
    if ('occupancy' in s) s.occupancy = Math.random() < 0.3;
    const { name, ...state } = s;
    void publisher.publishAsync(`demo/zigbee2mqtt/${name}`, JSON.stringify({ ...state, linkquality: 60 + Math.floor(Math.random() * 40) }), { qos: 1 });
  }
  for (const plug of ['kettle', 'fridge']) {
    const watts = plug === 'kettle' ? (tick % 20 < 3 ? 2150 + Math.random() * 50 : 0) : 80 + Math.random() * 40;
    void publisher.publishAsync(`demo/home/${plug}/power`, watts.toFixed(1), { qos: 1 });
  }
  // Now and then a broken device: the gateway sends it to the dead-letter topic and goes on.
  if (tick % 15 === 0) void publisher.publishAsync('demo/zigbee2mqtt/broken_sensor', '{"temperature": 21.', { qos: 1 });
}, 1000);
cleanups.push(() => clearInterval(simulator));

// What runs, where it goes, and how to look at it.
const cli = `node ${join('dist', 'cli.js')}`;
const kinds = [
  'Zigbee2MQTT sensors and smart plugs publishing to MQTT',
  ...extras.map((e) => e.what),
];
const url = await statusPage;
say('');
say(`The demo runs ${kinds.length > 1 ? `${kinds.slice(0, -1).join(', ')} and ${kinds[kinds.length - 1]}` : kinds[0]}.`);
say(`The gateway reads them all and writes to the Kafka topics with the prefix ${prefix}: ${topics.join(', ')}.`);
say(`status page: ${url ?? `not up yet (see ${shown(gatewayLog)})`}`);
say(`tail:        ${cli} tail --brokers ${bootstrap} --prefix ${prefix}   (in another terminal, while the demo runs)`);
say(`audit:       ${cli} audit --brokers ${bootstrap} --topic ${prefix}readings`);

// 5a. --tail: the operator's view instead of the table below, one line per event, from `telemetry-gateway tail`.
if (args.tail) {
  const tailArgs = ['tail', '--brokers', bootstrap, '--prefix', prefix];
  say(`\ntelemetry-gateway ${tailArgs.join(' ')}; Ctrl-C stops the demo\n`);
  const tail = spawn(process.execPath, [join(root, 'dist', 'cli.js'), ...tailArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const tailExit = new Promise((r) => tail.once('exit', r));
  cleanups.push(async () => {
    if (tail.exitCode === null) tail.kill('SIGINT');
    await tailExit;
  });
  if (args.seconds !== undefined) setTimeout(() => void shutdown(0), Number(args.seconds) * 1000);
  await new Promise(() => {}); // until Ctrl-C or --seconds: shutdown() ends the process
}

// 5. Read everything back from Kafka and print, once a second, what reached each topic.
const consumer = kafka.consumer({ groupId: `demo-reader-${process.pid}`, maxWaitTimeInMs: 250 });
await consumer.connect();
cleanups.push(() => consumer.disconnect());
await consumer.subscribe({ topics, fromBeginning: true });
const counts = new Map(topics.map((t) => [t, { total: 0, lastSecond: 0, last: '' }]));
await consumer.run({
  eachMessage: async ({ topic, partition, message }) => {
    const entry = counts.get(topic);
    if (!entry || BigInt(message.offset) < (startOffsets.get(`${topic}/${partition}`) ?? 0n)) return; // an earlier run's
    entry.total += 1;
    entry.lastSecond += 1;
    try {
      entry.last = describeEvent(JSON.parse(message.value.toString()));
    } catch {
      entry.last = '(not JSON)';
    }
  },
});

function describeEvent(e) {
  switch (e.type) {
    case 'reading':
      return `${e.deviceId} ${e.metric}=${e.value === null ? '—' : e.value}${e.unit && e.unit !== '1' ? ` ${e.unit}` : ''} (${e.quality}, seq ${e.seq})`;
    case 'dead-letter':
      return `${e.deviceId}: ${e.reason}`;
    case 'alarm':
      return `${e.deviceId} ${e.alarm} ${e.state} (${e.severity})`;
    case 'device-status':
      return `${e.deviceId} ${e.previous} → ${e.status}: ${e.reason}`;
    default:
      return `${e.deviceId} ${e.type}`;
  }
}

say(`\nreading back from Kafka (${topics.join(', ')}); Ctrl-C stops the demo\n`);
const started = Date.now();
summary = () => {
  const elapsed = Math.round((Date.now() - started) / 1000);
  const others = [...counts].filter(([topic]) => topic !== `${prefix}readings`).map(([topic, c]) => `${topic.slice(prefix.length)} ${c.total}`);
  return `demo ran ${elapsed}s: ${counts.get(`${prefix}readings`)?.total ?? 0} readings reached Kafka (${others.join(', ')})\n`;
};
const printer = setInterval(() => {
  const elapsed = Math.round((Date.now() - started) / 1000);
  const lines = [`── ${new Date().toISOString().slice(11, 19)}  (${elapsed}s) ──`];
  for (const [topic, c] of counts) {
    lines.push(`  ${topic.padEnd(32)} ${String(c.total).padStart(7)} total ${String(c.lastSecond).padStart(4)}/s  ${c.last}`);
    c.lastSecond = 0;
  }
  say(lines.join('\n'));
  if (args.seconds !== undefined && elapsed >= Number(args.seconds)) {
    void shutdown((counts.get(`${prefix}readings`)?.total ?? 0) > 0 ? 0 : 2); // shutdown prints the summary
  }
}, 1000);
cleanups.push(() => clearInterval(printer));
