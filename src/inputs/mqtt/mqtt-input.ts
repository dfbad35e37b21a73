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
 *
 * Resends: every committed QoS 1 message leaves a receipt in the buffer (source = this session: broker URL and
 * client id; key = packet id; digest = hash of topic and payload), in the same transaction as its events. When
 * the connection is lost before the broker processed our PUBACK, the broker resends the message with DUP=1 on the
 * next connection, possibly to a new gateway process. A DUP=1 message whose packet id, topic and payload match a
 * receipt that may not have been acknowledged is acknowledged again without a second event (its receipt is
 * recorded again, so the count below restarts). "May not have been acknowledged": the receipt was not replaced by
 * a DUP=0 message with the same packet id (the broker reuses an id only after it processed our PUBACK) and fewer
 * than RESEND_WINDOW (32,768) QoS 1 messages arrived after it (a broker that numbers packet ids in turn reuses
 * one only after 65,535). The rule, its evidence and its limits: src/inputs/mqtt/README.md.
 */
import { createHash } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { errorMessage, GatewayError } from '../../errors.js';
import type { MqttInputConfigT } from '../../config/schema.js';
import { Backoff } from '../../util/backoff.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import type { FoundReceipt, Input, InputConnection, InputDeps, InputMetric, InputProblem, SourceReceipt } from '../input.js';
import { BrokerDropMonitor } from './broker-drops.js';
import { compileRoutes, routeMessage, subscriptionTopics, type Route } from './router.js';
import { classifyMqttError, mqttLoginOptions } from '../../security/mqtt-security.js';
import { assertMqttInternals } from './mqtt-internals.js';

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: () => void, noStore?: boolean) => void;

interface HeldAck {
  /** Resolves when this PUBACK may go: its message is committed and every earlier PUBACK was sent. */
  ready: Promise<void>;
  stream: unknown;
}

export interface MqttInputStats {
  connected: boolean;
  messages: number;
  deadLetters: number;
  heldAcks: number;
  /** DUP=1 messages recognised as resends of committed ones and acknowledged again without a new event. */
  resendsRecognized: number;
}

/**
 * How many QoS 1 messages may be numbered after a receipt while a DUP=1 match still counts as its resend: half the
 * packet-id space. Why not `inflight` (Receive Maximum): the input bounds the PUBACKs it has not yet *sent*, but a
 * sent PUBACK may still sit unread in the broker's socket when the connection dies, and a broker that floods past
 * Receive Maximum (Mosquitto 2.0.11, RELIABILITY.md) goes on sending meanwhile — the fault suite saw 1,317 and 1,459 such
 * messages behind one kill, all of which a window of 1,000 turned into second events. What the window must exclude
 * is a new message that reuses the packet id: a broker that numbers packet ids in turn reuses one only after
 * 65,535 messages, so any window below that excludes it; one that hands out the lowest free id reuses at once,
 * whatever the window (src/inputs/mqtt/README.md, "Where the rule cannot apply").
 */
export const RESEND_WINDOW = 32_768;

/**
 * Whether a DUP=1 PUBLISH with `digest` is a resend of the message `found` stands for: same content, and fewer
 * than `window` QoS 1 messages numbered after it. (A receipt whose packet id a DUP=0 message reused was replaced
 * by that message's receipt, so `found` is always the latest message with this packet id.)
 */
export function mayBeUnacknowledged(found: Pick<FoundReceipt, 'digest' | 'number'>, digest: string, latestNumber: number, window = RESEND_WINDOW): boolean {
  return found.digest === digest && latestNumber - found.number < window;
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
  /** Waits between reconnects (reconnect.initial doubling to reconnect.max, jittered), handed to MQTT.js per close. */
  readonly #reconnect: Backoff;
  #messages = 0;
  #deadLetters = 0;
  /** PUBACKs held back until their commit. */
  #acksAwaitingCommit = 0;
  #lastErrorLogged = '';
  /** The broker granted our subscriptions on the current connection (a new session gets nothing published before). */
  #subscribed = false;
  /** What the broker says it dropped (src/inputs/mqtt/broker-drops.ts). */
  #brokerDrops: BrokerDropMonitor | undefined;
  #resendsRecognized = 0;
  /** The receipt source of this session (broker URL + client id): packet ids are only unique within it. */
  #receiptSource = '';
  /**
   * The last PUBACK of this connection in arrival order: MQTT requires PUBACKs in the order the PUBLISHes came
   * [MQTT-4.6.0-2], and a recognised resend may wait for a commit still pending from the previous connection.
   */
  #lastAck: Promise<void> = Promise.resolve();
  /**
   * MQTT.js's "read the next packet" while we hold `inflight` unsent PUBACKs: we enforce our Receive Maximum on our
   * side too, since a broker may not (Mosquitto before 2.0.13 sends far past it: RELIABILITY.md). Without this the
   * input would take, commit and leave unacknowledged an unbounded number of messages.
   */
  #pausedRead: (() => void) | undefined;

  constructor(config: MqttInputConfigT, deps: InputDeps) {
    this.name = config.name;
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.logger.child({ input: config.name });
    this.#clock = deps.clock;
    this.#reconnect = new Backoff({ initialMs: config.reconnect.initial, maxMs: config.reconnect.max, jitter: 'equal' });
  }

  get stats(): MqttInputStats {
    return {
      connected: this.#client?.connected ?? false,
      messages: this.#messages,
      deadLetters: this.#deadLetters,
      heldAcks: this.#acksAwaitingCommit,
      resendsRecognized: this.#resendsRecognized,
    };
  }

  /** Transport figures for /metrics and the status page (src/observability/README.md). */
  metrics(): InputMetric[] {
    const s = this.stats;
    return [
      { name: 'mqtt_connected', help: '1 while the MQTT input is connected to its broker', type: 'gauge', value: s.connected ? 1 : 0 },
      { name: 'mqtt_messages_received_total', help: 'MQTT messages received (before decoding)', type: 'counter', value: s.messages },
      { name: 'mqtt_acks_awaiting_commit', help: 'QoS 1 PUBACKs held back until their messages are committed', type: 'gauge', value: s.heldAcks },
      { name: 'mqtt_subscribed', help: '1 once the broker granted every subscription on the current connection', type: 'gauge', value: this.#subscribed ? 1 : 0 },
      {
        name: 'mqtt_resends_recognized_total',
        help: 'Broker resends (DUP=1) of messages already committed, acknowledged again without a new event',
        type: 'counter',
        value: s.resendsRecognized,
      },
      ...(this.#brokerDrops?.metrics() ?? []),
    ];
  }

  /** The broker address without credentials, for the status page. */
  connection(): InputConnection {
    const url = new URL(this.#config.url);
    const endpoint = `${url.protocol}//${url.host}`;
    if (this.#client?.connected) return { state: 'connected', endpoint };
    if (this.#lastErrorLogged === '') return { state: 'connecting', endpoint };
    return { state: 'disconnected', endpoint, detail: this.#lastErrorLogged };
  }

  /** Degraded while the broker reports dropped messages (src/inputs/mqtt/broker-drops.ts). */
  problems(): InputProblem[] {
    return this.#brokerDrops?.problems() ?? [];
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
    const brokerDrops = new BrokerDropMonitor(c.brokerDrops, { input: c.name, url: c.url, logger: this.#log, clock: this.#clock });
    this.#brokerDrops = brokerDrops;
    const clientId = c.clientId ?? `${this.#deps.gatewayId}-${c.name}`;
    this.#receiptSource = `mqtt ${c.url} ${clientId}`;
    const options: IClientOptions = {
      clientId,
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
      ...mqttLoginOptions(c),
      // A refused login (CONNACK error) is retried with backoff like a lost connection, not given up.
      reconnectOnConnackError: true,
    };
    const client = mqtt.connect(c.url, options);
    this.#client = client;
    this.#wrapPuback(client);
    client.handleMessage = (packet, callback) => this.#handleMessage(client, packet, callback);
    client.on('connect', (connack) => {
      this.#reconnect.reset();
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
      brokerDrops.attach(client);
    });
    client.on('close', () => {
      // Held PUBACKs belong to the closed connection; the broker redelivers those messages on the next one.
      this.#held.clear();
      this.#subscribed = false;
      // PUBACK order is per connection: the next one starts its own chain.
      this.#lastAck = Promise.resolve();
      // A read paused on the closed connection's packets is released (MQTT.js drops that connection's queue).
      const resume = this.#pausedRead;
      this.#pausedRead = undefined;
      resume?.();
      if (this.#stopping) return;
      client.options.reconnectPeriod = this.#reconnect.next();
    });
    client.on('error', (err) => {
      const message = errorMessage(err);
      if (message === this.#lastErrorLogged) return;
      this.#lastErrorLogged = message;
      const { code, hint } = classifyMqttError(err);
      this.#log.warn({ code, url: c.url, err: message, hint }, 'mqtt connection problem; retrying with backoff');
    });
    // After the client is wired (start() stays synchronous up to here); it attaches on 'connect', which comes later.
    await brokerDrops.start();
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
      // Lets MQTT.js read the next packet now (this one's PUBACK waits for its commit), unless `inflight` wait.
      if (this.#acksAwaitingCommit < this.#config.inflight) cb?.();
      else this.#pausedRead = cb ?? (() => undefined);
      held.ready.then(
        () => {
          this.#acksAwaitingCommit -= 1;
          if (client.stream === held.stream && client.connected) send(packet);
          this.#resumeRead();
        },
        () => {
          // Not committed: no PUBACK (the commit failure handler drops the connection, the broker redelivers).
          this.#acksAwaitingCommit -= 1;
          this.#resumeRead();
        },
      );
    };
  }

  #resumeRead(): void {
    const resume = this.#pausedRead;
    if (resume === undefined || this.#acksAwaitingCommit >= this.#config.inflight) return;
    this.#pausedRead = undefined;
    resume();
  }

  #handleMessage(client: MqttClient, packet: IPublishPacket, callback: (err?: Error) => void): void {
    if (this.#stopping) {
      // Not taken: no PUBACK, the broker keeps it for the session's next connection.
      callback(new GatewayError('GW_MQTT_CONNECT', 'input is stopping'));
      return;
    }
    const topic = packet.topic;
    // mqtt-packet hands a Buffer slice of its own; no copy is needed (decoders only read it).
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (this.#brokerDrops?.takes(topic)) {
      // The broker's own statistics: read, never turned into events.
      this.#brokerDrops.observe(topic, payload);
      callback();
      return;
    }
    this.#messages += 1;
    const receipt =
      this.#config.recognizeResends && packet.qos === 1 && packet.messageId !== undefined ? this.#receiptOf(packet.messageId, topic, payload) : undefined;
    const original = receipt && packet.dup ? this.#resendOf(receipt) : undefined;
    if (receipt && original) {
      // Committed before (its PUBACK was lost with the connection): acknowledge again, no second event. The
      // receipt is recorded again only once the original commit succeeded, so a receipt never stands for events
      // that were not stored.
      this.#resendsRecognized += 1;
      this.#track(client, packet, original.then(() => this.#deps.sink.append([], receipt)), topic);
      callback();
      return;
    }
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
    this.#track(client, packet, this.#deps.sink.append(drafts, receipt), topic);
    callback();
  }

  /** Holds the message's PUBACK until `committed` and every earlier PUBACK of the connection; drops the connection when the commit fails. */
  #track(client: MqttClient, packet: IPublishPacket, committed: Promise<void>, topic: string): void {
    const settled = committed.then(
      () => undefined,
      (err: unknown) => {
        this.#log.error({ code: 'GW_BUFFER_WRITE', topic, err: errorMessage(err) }, 'could not commit a message; dropping the connection so the broker redelivers it');
        client.stream?.destroy();
      },
    );
    this.#unsettled.add(settled);
    void settled.finally(() => this.#unsettled.delete(settled));
    if (packet.qos !== 1 || packet.messageId === undefined) return;
    const previous = this.#lastAck;
    const ready = committed.then(() => previous);
    // A failed commit drops the connection; later PUBACKs of it are not sent either (held ones check the stream).
    this.#lastAck = ready.catch(() => undefined);
    this.#held.set(packet.messageId, { ready, stream: client.stream });
  }

  #receiptOf(messageId: number, topic: string, payload: Buffer): SourceReceipt {
    const digest = createHash('sha256').update(topic).update('\u0000').update(payload).digest('base64url').slice(0, 22);
    return { source: this.#receiptSource, key: String(messageId), digest };
  }

  /**
   * The commit of the message this DUP=1 PUBLISH resends, when it is one: same packet id, topic and payload as a
   * receipt not replaced since, and fewer than RESEND_WINDOW QoS 1 messages numbered after that receipt.
   */
  #resendOf(receipt: SourceReceipt): Promise<void> | undefined {
    const ledger = this.#deps.receipts;
    const found = ledger.find(receipt.source, receipt.key);
    return found && mayBeUnacknowledged(found, receipt.digest, ledger.latestNumber(receipt.source)) ? found.committed : undefined;
  }

  /**
   * Drops the connection at once, acknowledging nothing more (what was not acknowledged is redelivered to the
   * session's next connection). For fatal errors, and for tests that need a crash without killing the process.
   */
  async abort(): Promise<void> {
    this.#stopping = true;
    // Awaited only after the stream is destroyed: no turn of the event loop (a PUBACK) before that.
    const monitorStopped = this.#brokerDrops?.stop();
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      this.#held.clear();
      client.stream?.destroy();
    }
    await monitorStopped;
    if (!client) return;
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  /** Stops taking messages, lets committed ones be acknowledged, then disconnects (the session stays). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#brokerDrops?.stop();
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
