/**
 * `check-config --probe` for an MQTT input: connects to its broker as the gateway would (URL, login, TLS, MQTT 5,
 * the configured inflight and session expiry) under a throw-away client id (never the gateway's own: that would
 * take over its session), and reports the limits that matter for not losing messages where the broker tells them:
 *
 * - from the CONNACK: the session expiry it grants (a broker may cap it), the Receive Maximum it offers publishers
 *   (Mosquitto: max_inflight_messages), the largest packet it takes, whether it supports QoS 1;
 * - from its `$SYS` tree, when it publishes one and lets this user read it: product and version, uptime, and its
 *   drop counter (src/inputs/mqtt/broker-drops.ts).
 *
 * The per-client queue limit (Mosquitto max_queued_messages / max_queued_bytes, EMQX max_mqueue_len, HiveMQ
 * max-queued-messages) and persistence are not published by any of them. `--probe-queue N` measures the queue:
 * a second throw-away session subscribes, goes away, N QoS 1 messages are published to a probe topic, the session
 * comes back and counts what the broker kept; then the session is deleted. A bounded queue drops the excess, which
 * the broker's drop counter (and so a running gateway's monitor) counts too.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { errorMessage } from '../../errors.js';
import { classifyMqttError, mqttLoginOptions } from '../../security/mqtt-security.js';
import { formatDuration } from '../../util/duration.js';
import type { ProbeLine, ProbeOptions, ProbeReport } from '../input.js';
import { DEFAULT_DROP_COUNTER_TOPICS } from './broker-drops.js';
import type { MqttInputConfigT } from './config.js';
import { topicMatches } from './topic-filter.js';

const VERSION_TOPICS = ['$SYS/broker/version', '$SYS/brokers/+/version'];
const UPTIME_TOPICS = ['$SYS/broker/uptime', '$SYS/brokers/+/uptime'];
/** After the session comes back: this long without a message means the broker sent all it kept. */
const QUEUE_QUIET_MS = 2000;

function probeClientOptions(config: MqttInputConfigT, clientId: string, timeoutMs: number, sessionExpirySeconds: number): IClientOptions {
  return {
    clientId,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    keepalive: config.keepalive,
    log: () => undefined,
    properties: { sessionExpiryInterval: sessionExpirySeconds, receiveMaximum: config.inflight },
    ...mqttLoginOptions(config),
  };
}

/** `onMessage` is attached before the CONNACK: a resumed session's messages may come in the same read. */
function connect(url: string, options: IClientOptions, onMessage?: () => void): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, options);
    if (onMessage) client.on('message', onMessage);
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Ends a probe session and deletes it on the broker (session expiry 0 on DISCONNECT). */
async function endSession(client: MqttClient): Promise<void> {
  await client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }).catch(() => client.end(true));
}

const deadline = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export async function probeMqttBroker(config: MqttInputConfigT, gatewayId: string, options: ProbeOptions): Promise<ProbeReport> {
  const lines: ProbeLine[] = [];
  const facts: Record<string, unknown> = {};
  const add = (level: ProbeLine['level'], text: string, code?: ProbeLine['code']): void => {
    lines.push({ level, text, ...(code === undefined ? {} : { code }) });
  };
  const suffix = randomBytes(4).toString('hex');
  const requestedExpiry = Math.min(0xffffffff, Math.round(config.sessionExpiry / 1000));
  let main: { client: MqttClient; connack: IConnackPacket };
  try {
    // The configured session expiry, so the broker shows whether it caps it; the session is deleted at the end.
    main = await connect(config.url, probeClientOptions(config, `${gatewayId}-${config.name}-probe-${suffix}`, options.timeoutMs, requestedExpiry));
  } catch (err) {
    const { code, hint } = classifyMqttError(err);
    add('error', `cannot connect to ${config.url}: ${errorMessage(err)} (${hint})`, code);
    return { input: config.name, reachable: false, lines, facts };
  }
  const { client, connack } = main;
  try {
    const p = connack.properties ?? {};
    add('ok', `connected to ${config.url} (MQTT 5)`);
    const grantedExpiry = p.sessionExpiryInterval ?? requestedExpiry;
    facts.sessionExpirySeconds = grantedExpiry;
    if (grantedExpiry < requestedExpiry) {
      add('error', `the broker caps the session expiry at ${formatDuration(grantedExpiry * 1000)} (sessionExpiry asks ${formatDuration(requestedExpiry * 1000)}): messages queued while the gateway is away longer are discarded`, 'GW_MQTT_PROBE');
    } else {
      add('ok', `session expiry ${formatDuration(requestedExpiry * 1000)} granted: the broker keeps the gateway's session and queue that long while it is away`);
    }
    if (p.maximumQoS === 0) add('error', 'the broker supports QoS 0 only: nothing it delivers is acknowledged after the commit', 'GW_MQTT_PROBE');
    facts.receiveMaximum = p.receiveMaximum ?? 65535;
    add('info', `the broker takes ${p.receiveMaximum ?? 65535} unacknowledged QoS 1 messages from each publisher (Receive Maximum; Mosquitto: max_inflight_messages); the gateway asks for ${config.inflight} in flight towards it (inputs[].inflight)`);
    if (p.maximumPacketSize !== undefined) {
      facts.maximumPacketSize = p.maximumPacketSize;
      add('info', `largest packet the broker takes: ${p.maximumPacketSize} bytes`);
    }
    await readStatistics(client, config, options.timeoutMs, add, facts);
    add('info', "not readable over MQTT: the broker's queue limit per client (Mosquitto max_queued_messages and max_queued_bytes, EMQX mqtt.max_mqueue_len, HiveMQ max-queued-messages) and its persistence; --probe-queue N measures the queue");
    if (options.queueMessages !== undefined) await measureQueue(client, config, gatewayId, suffix, options, add, facts);
  } finally {
    await endSession(client);
  }
  return { input: config.name, reachable: true, lines, facts };
}

async function readStatistics(client: MqttClient, config: MqttInputConfigT, timeoutMs: number, add: (level: ProbeLine['level'], text: string, code?: ProbeLine['code']) => void, facts: Record<string, unknown>): Promise<void> {
  const counterTopics = config.brokerDrops.counterTopics;
  const filters = [...new Set([...VERSION_TOPICS, ...UPTIME_TOPICS, ...counterTopics])];
  const seen = new Map<string, string>();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const matches = (list: readonly string[], topic: string): boolean => list.some((f) => topicMatches(f.split('/'), topic));
  const complete = (): boolean => [...seen.keys()].some((t) => matches(VERSION_TOPICS, t)) && [...seen.keys()].some((t) => matches(UPTIME_TOPICS, t));
  client.on('message', (topic, payload) => {
    if (!matches(filters, topic)) return;
    seen.set(topic, payload.toString('utf8').trim());
    if (complete()) resolveDone();
  });
  let granted;
  try {
    granted = await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 0 as const }])));
  } catch (err) {
    add('warn', `subscribing to the broker's $SYS statistics failed: ${errorMessage(err)}`, 'GW_MQTT_DROPS_UNMONITORED');
    return;
  }
  const refused = granted.filter((g) => g.qos >= 128).map((g) => g.topic);
  // Mosquitto's are retained and arrive at once; EMQX publishes its uptime once a minute (sys_interval).
  await Promise.race([done, deadline(timeoutMs)]);
  const first = (list: readonly string[]): [string, string] | undefined => [...seen].find(([t]) => matches(list, t));
  const version = first(VERSION_TOPICS);
  const uptime = first(UPTIME_TOPICS);
  if (version) {
    facts.brokerVersion = version[1];
    add('info', `broker: ${version[1]}${uptime ? `, up ${uptime[1]}` : ''}`);
  }
  const counters = [...seen].filter(([t]) => matches(counterTopics, t));
  if (counters.length > 0) {
    const total = counters.reduce((n, [, v]) => n + (Number(v) || 0), 0);
    facts.brokerDroppedMessages = total;
    const where = counters.map(([t, v]) => `${t} = ${v}`).join(', ');
    if (total > 0) add('warn', `the broker has dropped ${total} QoS 1/2 messages since it started (${where}); a running gateway reports drops as GW_MQTT_BROKER_DROPPED`, 'GW_MQTT_BROKER_DROPPED');
    else add('ok', `drop counter: ${where}`);
  }
  if (seen.size === 0) {
    const why = refused.length > 0 ? `the broker refused ${refused.join(', ')}` : `nothing arrived within ${Math.round(timeoutMs / 1000)} s`;
    add('warn', `no $SYS statistics (${why}): a running gateway cannot see messages the broker drops; allow this user to read $SYS or watch the broker's own drop metric`, 'GW_MQTT_DROPS_UNMONITORED');
  } else if (counters.length === 0) {
    const mosquitto = counterTopics.includes(DEFAULT_DROP_COUNTER_TOPICS[0] ?? '') && String(facts.brokerVersion ?? '').startsWith('mosquitto');
    add(
      'info',
      mosquitto
        ? 'drop counter: none published in the last minute (Mosquitto republishes it only when it changes): no recent drop'
        : `no drop counter arrived on ${counterTopics.join(', ')} within ${Math.round(timeoutMs / 1000)} s`,
    );
  }
}

async function measureQueue(
  publisher: MqttClient,
  config: MqttInputConfigT,
  gatewayId: string,
  suffix: string,
  options: ProbeOptions,
  add: (level: ProbeLine['level'], text: string, code?: ProbeLine['code']) => void,
  facts: Record<string, unknown>,
): Promise<void> {
  const count = options.queueMessages ?? 0;
  const topic = `etg-probe/${gatewayId}/${suffix}`;
  const sessionOptions = probeClientOptions(config, `${gatewayId}-${config.name}-probe-queue-${suffix}`, options.timeoutMs, 600);
  let away: MqttClient | undefined;
  let sessionCreated = false;
  try {
    const first = await connect(config.url, sessionOptions);
    sessionCreated = true;
    const granted = await first.client.subscribeAsync(topic, { qos: 1 });
    if ((granted[0]?.qos ?? 128) >= 128) {
      add('warn', `--probe-queue: the broker refused a subscription to ${topic}; the queue was not measured`);
      await endSession(first.client);
      return;
    }
    // Away, with the session kept (clean start off on return, expiry 600 s).
    await first.client.endAsync();
    let rejected = 0;
    const inFlight = new Set<Promise<unknown>>();
    for (let n = 0; n < count; n++) {
      const p = publisher.publishAsync(topic, String(n), { qos: 1 }).catch(() => {
        rejected += 1;
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 500) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (rejected > 0) {
      add('warn', `--probe-queue: the broker refused ${rejected} of ${count} publishes to ${topic} (ACL); the queue was not measured`);
      return;
    }
    const { clock } = options;
    let received = 0;
    let lastAt = clock.now();
    const back = await connect(config.url, { ...sessionOptions, clean: false }, () => {
      received += 1;
      lastAt = clock.now();
    });
    away = back.client;
    const until = clock.now() + options.timeoutMs + count; // a generous deadline: ~1 ms per message
    while (received < count && clock.now() - lastAt < QUEUE_QUIET_MS && clock.now() < until) await deadline(100);
    facts.queueKept = received;
    facts.queueSent = count;
    if (received < count) {
      add(
        'error',
        `the broker kept ${received} of ${count} QoS 1 messages for a session that was away and dropped the rest (all were acknowledged to the publisher): its queue per client holds about ${received} messages (Mosquitto: max_queued_messages, 1000 by default). A burst the gateway cannot take at once, or a gateway outage, beyond that is lost: install config/mosquitto/edge-telemetry-gateway.conf or raise the limit for ${config.clientId ?? `${gatewayId}-${config.name}`} (docs/raspberry-pi.md)`,
        'GW_MQTT_PROBE',
      );
    } else {
      add('ok', `the broker kept all ${count} QoS 1 messages for a session that was away (its queue per client holds at least that many)`);
    }
  } catch (err) {
    add('warn', `--probe-queue failed: ${errorMessage(err)}`);
  } finally {
    // The probe session goes, with whatever it still holds (clean start, then expiry 0 on the way out).
    if (!away && sessionCreated) away = await connect(config.url, sessionOptions).then((c) => c.client).catch(() => undefined);
    if (away) await endSession(away);
  }
}
