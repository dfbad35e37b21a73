/**
 * MQTT input: a persistent session (fixed client id, clean start off) whose QoS 1 PUBACKs leave only after the
 * events of the message are committed to the buffer, with many messages sharing one commit.
 *
 * Why the PUBACK interception: MQTT.js handles incoming packets strictly one at a time and sends a message's
 * PUBACK from the callback of `handleMessage`; only then does it parse the next packet. Waiting for the commit
 * inside `handleMessage` therefore means one commit (one fsync) per message. Instead, `handleMessage` hands the
 * message to the buffer and calls back at once; the PUBACK that MQTT.js then tries to send is held back
 * (`_sendPacket` is wrapped) until that message's group commit resolves, while MQTT.js goes on reading the next
 * packets. The broker keeps up to `inflight` (MQTT 5 Receive Maximum) unacknowledged messages in flight, so
 * that many messages can share one commit. Held PUBACKs are sent in arrival order (commits resolve in order),
 * only on the connection the message came from (a PUBACK for an old connection's packet id would acknowledge a
 * different message on the new one), and never when the commit failed: the broker then redelivers.
 * The wrapper relies on MQTT.js internals: package.json pins the exact version test/mqtt-puback.test.ts proves the
 * behaviour with, and start() refuses to run on any other behaviour (mqtt-internals.ts, GW_MQTT_INTERNALS).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { errorMessage, GatewayError } from '../../errors.js';
import type { MqttInputConfigT } from '../../config/schema.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { Input, InputDeps, InputMetric } from '../input.js';
import { compileRoutes, routeMessage, subscriptionTopics, type Route } from './router.js';
import { classifyMqttError, mqttTlsOptions } from '../../security/mqtt-security.js';
import { assertMqttInternals } from './mqtt-internals.js';

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: () => void, noStore?: boolean) => void;

interface HeldAck {
  committed: Promise<void>;
  stream: unknown;
}

export interface MqttInputStats {
  connected: boolean;
  messages: number;
  deadLetters: number;
  heldAcks: number;
}

export class MqttInput implements Input {
  readonly name: string;
  readonly #config: MqttInputConfigT;
  readonly #deps: InputDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  #client: MqttClient | undefined;
  #routes: Route[] = [];
  readonly #held = new Map<number, HeldAck>();
  /** Commits whose PUBACKs are not yet sent; stop() waits for them. */
  readonly #unsettled = new Set<Promise<void>>();
  #stopping = false;
  #reconnectDelay: number;
  #messages = 0;
  #deadLetters = 0;
  /** PUBACKs held back until their commit. */
  #acksAwaitingCommit = 0;
  #lastErrorLogged = '';
  /** The broker granted our subscriptions on the current connection (a new session gets nothing published before). */
  #subscribed = false;

  constructor(config: MqttInputConfigT, deps: InputDeps) {
    this.name = config.name;
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger.child({ input: config.name });
    this.#clock = deps.clock;
    this.#reconnectDelay = config.reconnect.initial;
  }

  get stats(): MqttInputStats {
    return { connected: this.#client?.connected ?? false, messages: this.#messages, deadLetters: this.#deadLetters, heldAcks: this.#acksAwaitingCommit };
  }

  /** Transport figures for /metrics and the status page (src/observability/README.md). */
  metrics(): InputMetric[] {
    const s = this.stats;
    return [
      { name: 'mqtt_connected', help: '1 while the MQTT input is connected to its broker', type: 'gauge', value: s.connected ? 1 : 0 },
      { name: 'mqtt_messages_received_total', help: 'MQTT messages received (before decoding)', type: 'counter', value: s.messages },
      { name: 'mqtt_acks_awaiting_commit', help: 'QoS 1 PUBACKs held back until their messages are committed', type: 'gauge', value: s.heldAcks },
      { name: 'mqtt_subscribed', help: '1 once the broker granted every subscription on the current connection', type: 'gauge', value: this.#subscribed ? 1 : 0 },
    ];
  }

  /** Device ids fixed in the config (a deviceId without {placeholders}); templated ones appear when they send. */
  devices(): string[] {
    const ids = this.#config.subscriptions.flatMap((sub) => (typeof sub.deviceId === 'string' && !sub.deviceId.includes('{') ? [sub.deviceId] : []));
    return [...new Set(ids)];
  }

  /** Starts connecting; resolves at once (a broker that is down is retried in the background with backoff). */
  async start(): Promise<void> {
    assertMqttInternals();
    // Driver files were validated by check-config / config loading; a file changed since then fails here.
    this.#routes = compileRoutes(this.#config.subscriptions, this.#deps);
    const c = this.#config;
    const options: IClientOptions = {
      clientId: c.clientId ?? `${this.#deps.gatewayId}-${c.name}`,
      protocolVersion: 5,
      // MQTT.js traces every packet through the debug module; on the hot path that costs ~1 % CPU for nothing.
      log: () => undefined,
      clean: false,
      keepalive: c.keepalive,
      reconnectPeriod: c.reconnect.initial,
      connectTimeout: 10_000,
      resubscribe: false,
      properties: {
        sessionExpiryInterval: Math.min(0xffffffff, Math.round(c.sessionExpiry / 1000)),
        receiveMaximum: c.inflight,
      },
      ...(c.username === undefined ? {} : { username: c.username }),
      ...(c.password === undefined ? {} : { password: c.password.reveal() }),
      ...mqttTlsOptions(c.tls, `inputs.${c.name}.tls`),
      // A refused login (CONNACK error) is retried with backoff like a lost connection, not given up.
      reconnectOnConnackError: true,
    };
    const client = mqtt.connect(c.url, options);
    this.#client = client;
    this.#wrapPuback(client);
    client.handleMessage = (packet, callback) => this.#handleMessage(client, packet, callback);
    client.on('connect', (connack) => {
      this.#reconnectDelay = c.reconnect.initial;
      client.options.reconnectPeriod = c.reconnect.initial;
      this.#lastErrorLogged = '';
      this.#log.info({ url: c.url, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      // Subscribing again on a resumed session is harmless and covers a broker that lost the session.
      const topics = subscriptionTopics(this.#routes);
      client.subscribe(topics, (err, granted) => {
        if (err) this.#log.error({ code: 'GW_MQTT_CONNECT', err: errorMessage(err) }, 'mqtt subscribe failed');
        for (const g of granted ?? []) {
          if (g.qos === 128) this.#log.error({ code: 'GW_MQTT_CONNECT', topic: g.topic }, 'mqtt broker refused the subscription');
        }
        this.#subscribed = !err && (granted ?? []).every((g) => g.qos !== 128);
        if (!err) this.#log.info({ topics: Object.keys(topics) }, 'mqtt subscribed');
      });
    });
    client.on('close', () => {
      // Held PUBACKs belong to the closed connection; the broker redelivers those messages on the next one.
      this.#held.clear();
      this.#subscribed = false;
      if (this.#stopping) return;
      client.options.reconnectPeriod = this.#reconnectDelay;
      this.#reconnectDelay = Math.min(c.reconnect.max, this.#reconnectDelay * 2);
    });
    client.on('error', (err) => {
      const message = errorMessage(err);
      if (message === this.#lastErrorLogged) return;
      this.#lastErrorLogged = message;
      const { code, hint } = classifyMqttError(err);
      this.#log.warn({ code, url: c.url, err: message, hint }, 'mqtt connection problem; retrying with backoff');
    });
  }

  #wrapPuback(client: MqttClient): void {
    const internals = client as unknown as { _sendPacket: SendPacket };
    const send: SendPacket = internals._sendPacket.bind(client);
    internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
      const messageId = packet.cmd === 'puback' ? packet.messageId : undefined;
      const held = messageId === undefined ? undefined : this.#held.get(messageId);
      if (messageId === undefined || held === undefined) {
        send(packet, cb, cbStorePut, noStore);
        return;
      }
      this.#held.delete(messageId);
      this.#acksAwaitingCommit += 1;
      cb?.(); // lets MQTT.js read the next packet now; this one's PUBACK waits for its commit
      held.committed.then(
        () => {
          this.#acksAwaitingCommit -= 1;
          if (client.stream === held.stream && client.connected) send(packet);
        },
        () => {
          // Not committed: no PUBACK (the commit failure handler drops the connection, the broker redelivers).
          this.#acksAwaitingCommit -= 1;
        },
      );
    };
  }

  #handleMessage(client: MqttClient, packet: IPublishPacket, callback: (err?: Error) => void): void {
    if (this.#stopping) {
      // Not taken: no PUBACK, the broker keeps it for the session's next connection.
      callback(new GatewayError('GW_MQTT_CONNECT', 'input is stopping'));
      return;
    }
    this.#messages += 1;
    const topic = packet.topic;
    // mqtt-packet hands a Buffer slice of its own; no copy is needed (decoders only read it).
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const receivedAt = new Date(this.#clock.now()).toISOString();
    const ctx = {
      inputName: this.name,
      receivedAt,
      maxPayloadBytes: this.#config.maxPayloadBytes,
      deadLetterBytes: this.#config.deadLetterBytes,
    };
    const routed = routeMessage(this.#routes, topic, payload, ctx);
    const drafts = routed.drafts;
    // Topics a format driver asks for (Home Assistant state topics it just discovered, or no longer needs).
    for (const { filter, qos } of routed.subscribe) {
      client.subscribe(filter, { qos }, (err) => {
        if (err) this.#log.error({ code: 'GW_MQTT_CONNECT', topic: filter, err: errorMessage(err) }, 'mqtt subscribe failed');
        else this.#log.info({ topic: filter }, 'mqtt subscribed to a discovered topic');
      });
    }
    if (routed.unsubscribe.length > 0) {
      client.unsubscribe(routed.unsubscribe, (err) => {
        if (!err) this.#log.info({ topics: routed.unsubscribe }, 'mqtt unsubscribed from topics no longer discovered');
      });
    }
    for (const d of drafts) if (d.type === 'dead-letter') this.#deadLetters += 1;
    const committed = this.#deps.sink.append(drafts);
    const settled = committed.then(
      () => undefined,
      (err: unknown) => {
        this.#log.error({ code: 'GW_BUFFER_WRITE', topic, err: errorMessage(err) }, 'could not commit a message; dropping the connection so the broker redelivers it');
        client.stream?.destroy();
      },
    );
    this.#unsettled.add(settled);
    void settled.finally(() => this.#unsettled.delete(settled));
    if (packet.qos === 1 && packet.messageId !== undefined) {
      this.#held.set(packet.messageId, { committed, stream: client.stream });
    }
    callback();
  }

  /**
   * Drops the connection at once, acknowledging nothing more (what was not acknowledged is redelivered to the
   * session's next connection). For fatal errors, and for tests that need a crash without killing the process.
   */
  async abort(): Promise<void> {
    this.#stopping = true;
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    this.#held.clear();
    client.stream?.destroy();
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  /** Stops taking messages, lets committed ones be acknowledged, then disconnects (the session stays). */
  async stop(): Promise<void> {
    this.#stopping = true;
    const client = this.#client;
    if (!client) return;
    this.#deps.sink.flush();
    await Promise.allSettled([...this.#unsettled]);
    // One turn for the PUBACK writes queued by the commits above.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    this.#client = undefined;
  }
}
