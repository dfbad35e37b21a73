/**
 * The sink: a Kafka consumer group over the gateway's readings that raises `alarm` events on the alerts topic.
 *
 * Per batch of records: decode (edge-telemetry-gateway/events), drop readings whose id was processed before or
 * that are older than maxAge, evaluate the rules, then ONE SQLite transaction stores the processed ids, the new
 * rule state and the alarm events (outbox). Only then are the alarms produced (acks -1, idempotent producer),
 * marked sent, and the batch's offsets committed. So:
 * - a crash before the SQLite commit re-reads the batch and evaluates it for the first time again;
 * - a crash after it re-reads the batch, finds every id processed, and produces what is still in the outbox;
 * - a replayed or duplicated reading (same id) never reaches the rules twice, so it never raises a second alarm;
 * - the only duplicate that can reach the alerts topic is an alarm produced just before a crash and produced again
 *   after it, with the same event id (at-least-once; consumers deduplicate on id).
 */
import { Kafka, Partitioners, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { decodeEvent, encodeEvent, SCHEMA_VERSION, type AlarmEvent, type ReadingEvent } from 'edge-telemetry-gateway/events';
import type { LoadedConfig } from './config.js';
import { RuleEngine, type AlarmTransition } from './rules.js';
import { MonitorStore, type BatchOutcome } from './store.js';

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Serializes batch handling and silence checks: both change the rule state and the outbox. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

export class VitalsMonitor {
  readonly #loaded: LoadedConfig;
  readonly #log: Log;
  readonly #mutex = new Mutex();
  #store: MonitorStore | undefined;
  #engine: RuleEngine | undefined;
  #consumer: Consumer | undefined;
  #producer: Producer | undefined;
  #silenceTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly counters = { readings: 0, duplicates: 0, stale: 0, invalid: 0, alarms: 0 };

  constructor(loaded: LoadedConfig, log: Log) {
    this.#loaded = loaded;
    this.#log = log;
  }

  async start(): Promise<void> {
    const { config, rules, statePath } = this.#loaded;
    const store = new MonitorStore(statePath);
    store.open();
    this.#store = store;
    this.#engine = new RuleEngine(rules, Date.now(), store.loadStates());

    const kafka = new Kafka({ clientId: config.kafka.clientId, brokers: config.kafka.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    this.#producer = producer;
    // Alarms decided before a crash and not yet acknowledged go first.
    await this.#mutex.run(() => this.#flushOutbox());

    await this.#waitForTopics(kafka, config.kafka.readings);
    if (this.#stopping) return;
    const consumer = kafka.consumer({ groupId: config.kafka.groupId, maxWaitTimeInMs: 250, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.#log('info', 'joined the consumer group', { groupId: payload.groupId, memberId: payload.memberId }));
    consumer.on(consumer.events.CRASH, ({ payload }) => this.#log(payload.restart ? 'warn' : 'error', 'consumer crashed', { err: payload.error.message, restart: payload.restart }));
    await consumer.connect();
    // A new group starts at the oldest record; maxAge keeps it from alarming on history.
    await consumer.subscribe({ topics: config.kafka.readings, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        const last = batch.messages[batch.messages.length - 1];
        if (!last) return;
        await this.#mutex.run(() => this.#handleBatch(batch.messages));
        resolveOffset(last.offset);
        // Committed only now: the batch's state is in SQLite and its alarms are acknowledged by Kafka.
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      },
    });
    this.#silenceTimer = setInterval(() => {
      void this.#mutex.run(() => this.#checkSilence()).catch((err: Error) => this.#log('warn', 'silence check failed; retrying', { err: err.message }));
    }, config.silenceCheckInterval);
    this.#log('info', 'vitals-monitor started', { readings: config.kafka.readings, alerts: config.kafka.alerts, rules: rules.map((r) => r.name) });
  }

  /** The gateway creates its topics on its first send; until then there is nothing to subscribe to. */
  async #waitForTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      let reported = false;
      while (!this.#stopping) {
        const known = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !known.has(t));
        if (missing.length === 0) return;
        if (!reported) this.#log('info', 'waiting for the readings topics to exist', { missing });
        reported = true;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      await admin.disconnect();
    }
  }

  async #handleBatch(messages: readonly KafkaMessage[]): Promise<void> {
    const store = this.#store as MonitorStore;
    const engine = this.#engine as RuleEngine;
    const now = Date.now();
    const readings: ReadingEvent[] = [];
    for (const m of messages) {
      try {
        const event = decodeEvent(m);
        if (event.type === 'reading') readings.push(event);
      } catch (err) {
        this.counters.invalid += 1;
        this.#log('warn', 'skipped a record that is not a valid event', { offset: m.offset, err: (err as Error).message });
      }
    }
    const seenBefore = store.processedAmong(readings.map((r) => r.id));
    const outcome: BatchOutcome & { alarms: Omit<AlarmEvent, 'seq'>[]; processed: { id: string; receivedAt: number }[] } = { processed: [], states: [], alarms: [] };
    const inThisBatch = new Set<string>();
    for (const reading of readings) {
      if (seenBefore.has(reading.id) || inThisBatch.has(reading.id)) {
        this.counters.duplicates += 1;
        continue;
      }
      const receivedAt = Date.parse(reading.receivedAt);
      if (now - receivedAt > this.#loaded.config.maxAge) {
        this.counters.stale += 1;
        continue;
      }
      inThisBatch.add(reading.id);
      outcome.processed.push({ id: reading.id, receivedAt });
      this.counters.readings += 1;
      for (const t of engine.onReading(reading)) outcome.alarms.push(this.#alarmEvent(t, now));
    }
    outcome.states = engine.takeDirty();
    if (outcome.processed.length > 0 || outcome.states.length > 0) {
      // A failed commit leaves the engine ahead of the file: stop, and let the restart reload the stored state.
      try {
        store.commit(outcome);
      } catch (err) {
        this.#log('error', 'cannot store the monitor state; exiting', { err: (err as Error).message });
        process.exit(1);
      }
    }
    await this.#flushOutbox();
  }

  async #checkSilence(): Promise<void> {
    const engine = this.#engine as RuleEngine;
    const now = Date.now();
    const alarms = engine.checkSilence(now).map((t) => this.#alarmEvent(t, now));
    const states = engine.takeDirty();
    if (alarms.length > 0 || states.length > 0) (this.#store as MonitorStore).commit({ processed: [], states, alarms });
    if (alarms.length > 0) await this.#flushOutbox();
  }

  #alarmEvent(t: AlarmTransition, now: number): Omit<AlarmEvent, 'seq'> {
    return {
      schemaVersion: SCHEMA_VERSION,
      id: uuidv7(),
      gatewayId: this.#loaded.config.monitorId,
      deviceId: t.deviceId,
      sourceTime: t.time === null ? null : new Date(t.time).toISOString(),
      receivedAt: new Date(now).toISOString(),
      type: 'alarm',
      alarm: t.rule.name,
      state: t.state,
      severity: t.rule.severity,
      message: t.state === 'active' ? t.rule.message : `cleared: ${t.rule.message}`,
      ...(t.metric === undefined ? {} : { metric: t.metric }),
      ...(t.value === undefined ? {} : { value: t.value }),
    };
  }

  /** Produces every alarm in the outbox (acks -1) and marks them sent; throws when Kafka does not acknowledge. */
  async #flushOutbox(): Promise<void> {
    const store = this.#store as MonitorStore;
    const pending = store.pendingAlarms();
    if (pending.length === 0) return;
    const source = `/vitals-monitor/${this.#loaded.config.monitorId}`;
    await (this.#producer as Producer).send({
      topic: this.#loaded.config.kafka.alerts,
      acks: -1,
      messages: pending.map((p) => encodeEvent(p.event, source)),
    });
    store.markSent(pending.map((p) => p.pos), Date.now());
    for (const p of pending) {
      this.counters.alarms += 1;
      this.#log('info', 'alarm produced', { id: p.event.id, deviceId: p.event.deviceId, alarm: p.event.alarm, state: p.event.state, value: p.event.value });
    }
    store.prune(Date.now() - this.#loaded.config.maxAge);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#silenceTimer);
    // disconnect() waits for the batch in progress, which commits its offsets.
    await this.#consumer?.disconnect().catch(() => undefined);
    await this.#mutex.run(async () => undefined);
    await this.#producer?.disconnect().catch(() => undefined);
    this.#store?.close();
    this.#log('info', 'vitals-monitor stopped', { ...this.counters });
  }
}
