/**
 * The composition root: buffer, forwarder and inputs, wired with their dependencies. The constructor stores
 * what it is given; start() and stop() do the work, in the order the delivery contract needs.
 */
import { SqliteBuffer } from './buffer/sqlite-buffer.js';
import type { GatewayConfig } from './config/schema.js';
import { Forwarder } from './forwarder/forwarder.js';
import type { KafkaTransport } from './forwarder/kafka-transport.js';
import { createKafkaTransport } from './forwarder/create-transport.js';
import type { IngestSink, Input, InputContext } from './inputs/input.js';
import { createInput } from './inputs/registry.js';
import { systemClock, type Clock } from './util/clock.js';
import type { Lifecycle } from './util/lifecycle.js';
import type { Logger } from './util/logger.js';
import { errorMessage } from './errors.js';
import { Observability } from './observability/index.js';
import type { InputConfigAny } from './inputs/registry.js';
import { errorCode, inputFingerprint, planInputReload, restartRequiredPaths, type ReloadResult } from './service/reload.js';
import { createRecordFormat, type RegistryRecordFormat } from './registry/record-format.js';

export interface GatewayDeps {
  config: GatewayConfig;
  /** Where inputs find driver files (from loadConfig). */
  context: InputContext;
  logger: Logger;
  clock?: Clock;
  /** The Kafka client seam; by default the real transport of kafka.client. */
  transport?: KafkaTransport;
}

const PURGE_INTERVAL_MS = 60_000;

export class Gateway implements Lifecycle {
  readonly #deps: GatewayDeps;
  #buffer: SqliteBuffer | undefined;
  #forwarder: Forwarder | undefined;
  #inputs: Input[] = [];
  #purgeTimer: NodeJS.Timeout | undefined;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #observability: Observability | undefined;
  #recordFormat: RegistryRecordFormat | undefined;

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
  }

  get buffer(): SqliteBuffer | undefined {
    return this.#buffer;
  }

  get forwarder(): Forwarder | undefined {
    return this.#forwarder;
  }

  get inputs(): readonly Input[] {
    return this.#inputs;
  }

  /** Metrics, health endpoints, status page and gateway-health events (src/observability). */
  get observability(): Observability | undefined {
    return this.#observability;
  }

  /** Input deps whose sink is observed (per-input metrics and device table); used wherever inputs are created. */
  #observed<D extends { sink: SqliteBuffer }>(inputName: string, deps: D): Omit<D, 'sink'> & { sink: IngestSink } {
    return this.#observability ? { ...deps, sink: this.#observability.sinkFor(inputName, deps.sink) } : deps;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`gateway cannot start from state ${this.#state}`);
    const { config, logger } = this.#deps;
    const clock = this.#deps.clock ?? systemClock;
    const buffer = new SqliteBuffer({
      path: config.buffer.path,
      gatewayId: config.gateway.id,
      synchronous: config.buffer.synchronous,
      commitLingerMs: config.buffer.commitLinger,
      maxEventsPerCommit: config.buffer.maxEventsPerCommit,
      retentionMs: config.buffer.retention,
      retentionMaxBytes: config.buffer.retentionMaxBytes,
      maxEvents: config.buffer.maxEvents,
      maxBytes: config.buffer.maxBytes,
      whenFull: config.buffer.whenFull,
      integrityCheck: config.buffer.integrityCheck,
      integrityCheckWhen: config.buffer.integrityCheckWhen,
      clock,
    });
    buffer.open();
    this.#buffer = buffer;
    buffer.onWriteStall((stall) => {
      if (stall) {
        logger.error(
          { code: stall.code, path: buffer.path, err: stall.error, waiting: stall.waiting },
          'buffer file system refuses commits (disk full?); nothing more is acknowledged upstream until there is room; retrying every second',
        );
      } else logger.info({ path: buffer.path }, 'buffer commits again; acknowledging and polling resume');
    });
    logger.info({ path: buffer.path, pending: buffer.pendingCount, synchronous: config.buffer.synchronous, integrityCheck: buffer.integrityCheckDone }, 'buffer open');
    const observability = new Observability({
      http: config.http,
      health: config.health,
      view: {
        gatewayId: config.gateway.id,
        buffer: () => this.#buffer,
        forwarder: () => this.#forwarder,
        inputs: () => this.#inputs,
        schemaRegistry: () => this.#recordFormat?.state,
      },
      healthSink: () => this.#buffer,
      logger,
      clock,
    });
    this.#observability = observability;
    await observability.start();

    // Schema registry (src/registry): registers the event schemas; refuses to start on an incompatible schema,
    // but an unreachable registry only delays delivery (the forwarder waits), never ingest.
    this.#recordFormat = createRecordFormat({ kafka: config.kafka, logger });
    await this.#recordFormat?.start();

    const transport = this.#deps.transport ?? (await createKafkaTransport(config.kafka, logger));
    this.#forwarder = new Forwarder(
      buffer,
      observability.wrapTransport(transport),
      {
        gatewayId: config.gateway.id,
        topics: config.kafka.topics,
        maxEvents: config.kafka.batch.maxEvents,
        maxBytes: config.kafka.batch.maxBytes,
        lingerMs: config.kafka.batch.linger,
        cloudEvents: config.kafka.cloudEvents,
        retryInitialMs: config.kafka.retry.initial,
        retryMaxMs: config.kafka.retry.max,
        drain: config.kafka.drain,
        ...(this.#recordFormat ? { recordFormat: this.#recordFormat } : {}),
        drainDeadlineMs: config.shutdown.drainTimeout,
        clock,
      },
      logger,
    );
    await this.#forwarder.start();

    const deps = { ...this.#deps.context, gatewayId: config.gateway.id, sink: buffer, receipts: buffer, logger, clock };
    this.#inputs = config.inputs.map((inputConfig) => createInput(inputConfig, this.#observed(inputConfig.name, deps)));
    for (const input of this.#inputs) await input.start();
    observability.setInputsStarted(true);
    this.#applied = this.#recordApplied(config, this.#deps.context);

    this.#purgeTimer = setInterval(() => {
      try {
        const purged = buffer.purgeDelivered();
        if (purged > 0) logger.debug({ purged }, 'purged delivered events past retention');
      } catch (err) {
        logger.error({ err: errorMessage(err) }, 'purge failed');
      }
    }, PURGE_INTERVAL_MS);
    this.#purgeTimer.unref();
    this.#state = 'running';
    logger.info({ gatewayId: config.gateway.id, inputs: this.#inputs.map((i) => i.name) }, 'gateway started');
  }

  /** Stops inputs (what they took is committed and acknowledged), drains to Kafka until the deadline, closes. */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    const { logger } = this.#deps;
    clearInterval(this.#purgeTimer);
    this.#observability?.setInputsStarted(false);
    const stopping = Promise.allSettled(this.#inputs.map((input) => input.stop()));
    const results = await this.#unlessStalled(stopping);
    for (const r of results) if (r.status === 'rejected') logger.error({ err: errorMessage(r.reason) }, 'input did not stop cleanly');
    this.#buffer?.flush();
    await this.#forwarder?.stop();
    await this.#observability?.stop();
    const pending = this.#buffer?.pendingCount ?? 0;
    this.#buffer?.close();
    this.#state = 'stopped';
    logger.info({ pendingLeft: pending }, 'gateway stopped');
  }

  /**
   * Waits for the inputs to stop, unless the buffer's file system refuses commits (disk full): then the inputs
   * would wait for room forever, so what waits in memory is rejected — it was never acknowledged (MQTT brokers keep
   * it; polled readings of that moment are not stored, as when the process dies).
   */
  async #unlessStalled<T>(stopping: Promise<T>): Promise<T> {
    const buffer = this.#buffer;
    if (!buffer) return stopping;
    let off: (() => unknown) | undefined;
    const stalled = new Promise<'stalled'>((resolve) => {
      if (buffer.writeStall) resolve('stalled');
      else off = buffer.onWriteStall((stall) => stall && resolve('stalled'));
    });
    const first = await Promise.race([stopping, stalled]);
    off?.();
    if (first !== 'stalled') return first as T;
    const given = buffer.rejectQueued('the gateway is stopping while the buffer cannot commit (disk full)');
    this.#deps.logger.warn({ code: 'GW_BUFFER_DISK_FULL', events: given }, 'stopping while the buffer cannot commit: events waiting in memory were not stored nor acknowledged');
    return stopping;
  }

  // ---- Reload (SIGHUP; issue 6). Self-contained: the plan comes from src/service/reload.ts. ----

  /** What runs now: the config the reloadable parts were last applied from, and each input with its fingerprint. */
  #applied: AppliedConfig | undefined;
  #reloadChain: Promise<unknown> = Promise.resolve();

  #recordApplied(config: GatewayConfig, context: InputContext): AppliedConfig {
    const inputs = new Map<string, AppliedInput>();
    config.inputs.forEach((inputConfig, i) => {
      const input = this.#inputs[i];
      if (input) inputs.set(inputConfig.name, { input, config: inputConfig, fingerprint: inputFingerprint(inputConfig, context) });
    });
    return { config, inputs };
  }

  #isRunning(): boolean {
    return this.#state === 'running';
  }

  /**
   * Applies a new, already validated config (loadConfig) without a restart: stops removed and changed inputs (their
   * stop() commits and acknowledges what they took), starts added and changed ones. The buffer and the forwarder
   * keep running, so nothing buffered or in flight is touched. Changes outside inputs/logging/drivers are
   * reported in `restartRequired` and not applied. Reloads run one after another.
   */
  reload(config: GatewayConfig, context: InputContext): Promise<ReloadResult> {
    const run = this.#reloadChain.then(() => this.#reload(config, context));
    this.#reloadChain = run.catch(() => undefined);
    return run;
  }

  async #reload(config: GatewayConfig, context: InputContext): Promise<ReloadResult> {
    const buffer = this.#buffer;
    if (!this.#isRunning() || !buffer) throw new Error(`gateway cannot reload in state ${this.#state}`);
    const { logger } = this.#deps;
    const clock = this.#deps.clock ?? systemClock;
    const applied = this.#applied ?? this.#recordApplied(this.#deps.config, this.#deps.context);
    const restartRequired = restartRequiredPaths(applied.config, config);
    const plan = planInputReload(new Map([...applied.inputs].map(([name, e]) => [name, e.fingerprint])), config.inputs, context);

    const toStop = [...plan.removed, ...plan.changed].flatMap((name) => applied.inputs.get(name) ?? []);
    const stopped = await Promise.allSettled(toStop.map((e) => e.input.stop()));
    stopped.forEach((r, i) => {
      if (r.status === 'rejected') logger.error({ input: toStop[i]?.input.name, err: errorMessage(r.reason) }, 'input did not stop cleanly on reload');
    });

    // Inputs of a new config use the running gateway id: a gateway id change needs a restart.
    const deps = { ...context, gatewayId: applied.config.gateway.id, sink: buffer, receipts: buffer, logger, clock };
    const next = new Map<string, AppliedInput>();
    const failed: ReloadResult['failed'] = [];
    for (const entry of plan.next) {
      const kept = entry.action === 'keep' ? applied.inputs.get(entry.name) : undefined;
      if (kept) {
        next.set(entry.name, kept);
        continue;
      }
      if (!this.#isRunning()) break; // shutting down: start nothing more
      let input: Input | undefined;
      try {
        input = createInput(entry.config, this.#observed(entry.name, deps));
        await input.start();
        next.set(entry.name, { input, config: entry.config, fingerprint: entry.fingerprint });
      } catch (err) {
        failed.push({ input: entry.name, code: errorCode(err), error: errorMessage(err) });
        logger.error({ input: entry.name, code: errorCode(err), err: errorMessage(err) }, 'input failed to start on reload; it stays stopped until the next reload');
        await input?.stop().catch(() => undefined);
      }
    }
    this.#inputs = [...next.values()].map((e) => e.input);
    this.#applied = {
      config: { ...applied.config, logging: config.logging, drivers: config.drivers, inputs: [...next.values()].map((e) => e.config) },
      inputs: next,
    };
    const { added, removed, changed, unchanged } = plan;
    return { added, removed, changed, unchanged, restartRequired, failed };
  }
}

/** A running input as the last reload (or start) applied it. */
interface AppliedInput {
  input: Input;
  config: InputConfigAny;
  fingerprint: string;
}

interface AppliedConfig {
  config: GatewayConfig;
  inputs: Map<string, AppliedInput>;
}
