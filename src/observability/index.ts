/**
 * Observability of one gateway: Prometheus metrics, /healthz and /readyz, the live status page and the periodic
 * gateway-health event. It observes the event stream (a decorating IngestSink per input) and the Kafka
 * transport (a timing decorator) instead of instrumenting each input; inputs may add their own figures through
 * the optional `Input.metrics()`.
 *
 * Lifecycle, driven by the gateway: construct (stores deps) → sinkFor()/wrapTransport() while wiring →
 * start() → setInputsStarted(true) once inputs run → setInputsStarted(false) when stopping → stop().
 */
import { errorMessage } from '../errors.js';
import type { KafkaTransport } from '../forwarder/kafka-transport.js';
import type { IngestSink } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';
import type { Lifecycle } from '../util/lifecycle.js';
import type { Logger } from '../util/logger.js';
import type { HealthConfigT, HttpConfigT } from './config.js';
import { Figures, type GatewayView } from './figures.js';
import { EventLoopMonitor, HealthReporter, degradation, liveness, readiness } from './health.js';
import { GatewayMetrics } from './metrics.js';
import { EventObserver } from './observer.js';
import { ObservabilityServer } from './server.js';
import { buildStatus } from './status.js';
import { TimedTransport } from './timed-transport.js';

export { HttpConfig, HealthConfig, isLoopbackHost, type HttpConfigT, type HealthConfigT } from './config.js';
export type { GatewayView } from './figures.js';

/** How long to wait before trying to listen again when the port is taken. */
const LISTEN_RETRY_MS = 30_000;
/** How often inputs' problems are checked, so a new one is announced at once instead of at the next heartbeat. */
const PROBLEM_CHECK_MS = 1000;

export interface ObservabilityOptions {
  http: HttpConfigT;
  health: HealthConfigT;
  view: GatewayView;
  /** Where gateway-health events go (the buffer itself: they are not counted as input events). */
  healthSink: () => IngestSink | undefined;
  logger: Logger;
  clock: Clock;
}

export class Observability implements Lifecycle {
  readonly observer: EventObserver;
  readonly #options: ObservabilityOptions;
  readonly #log: Logger;
  readonly #figures: Figures;
  readonly #monitor = new EventLoopMonitor();
  readonly #metrics: GatewayMetrics;
  #server: ObservabilityServer | undefined;
  #address: { host: string; port: number } | undefined;
  #inputsStarted = false;
  #healthTimer: NodeJS.Timeout | undefined;
  #problemTimer: NodeJS.Timeout | undefined;
  /** Problems already announced (input, code, since), so each new one triggers one early heartbeat. */
  #announcedProblems = new Set<string>();
  #listenRetry: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: ObservabilityOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'observability' });
    this.observer = new EventObserver({ maxDevices: options.http.maxDevices, clock: options.clock });
    this.#figures = new Figures(options.view, this.observer, options.clock);
    this.#metrics = new GatewayMetrics(this.#figures, this.#log, () => this.#ready().ready);
  }

  /** The sink to give `input`: passes everything to `inner`, observing it. */
  sinkFor(input: string, inner: IngestSink): IngestSink {
    return this.observer.sinkFor(input, inner);
  }

  /** The transport to give the forwarder: measures send latency. */
  wrapTransport(transport: KafkaTransport): KafkaTransport {
    return new TimedTransport(transport, (o) => this.#metrics.observeSend(o));
  }

  setInputsStarted(started: boolean): void {
    this.#inputsStarted = started;
  }

  /** Where the listener is bound (port 0 in the config picks a free one); undefined when not listening. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  /** Starts sampling, the heartbeat and the listener. A port in use is logged and retried, never fatal. */
  async start(): Promise<void> {
    if (this.#running) return;
    const { http, health } = this.#options;
    const token = http.enabled ? http.token?.revealFor('http.token') : undefined;
    this.#running = true;
    // Both start before the first await, so a stop() meanwhile finds them running and stops them.
    await Promise.all([this.#figures.start(), this.#monitor.start()]);
    if (!this.#running) return;
    if (health.interval > 0) {
      const reporter = new HealthReporter(this.#figures, this.#monitor);
      this.#healthTimer = setInterval(() => this.#emitHealth(reporter), health.interval);
      this.#healthTimer.unref();
      this.#problemTimer = setInterval(() => this.#announceNewProblems(reporter), PROBLEM_CHECK_MS);
      this.#problemTimer.unref();
    }
    if (!http.enabled) return;
    this.#server = new ObservabilityServer({
      host: http.host,
      port: http.port,
      token,
      onError: (err) => this.#log.error({ err: errorMessage(err) }, 'http request failed'),
      routes: {
        metrics: async () => ({ contentType: this.#metrics.contentType, body: await this.#metrics.render() }),
        healthz: () => {
          const body = liveness(this.#monitor, this.#figures);
          return { ok: body.live, body };
        },
        readyz: () => {
          const body = this.#ready();
          return { ok: body.ready, body };
        },
        status: () => {
          this.#figures.declareInputDevices();
          return buildStatus(this.#figures, liveness(this.#monitor, this.#figures), this.#ready());
        },
      },
    });
    await this.#listen();
  }

  async #listen(): Promise<void> {
    const server = this.#server;
    if (!server || !this.#running) return;
    const { host, port } = this.#options.http;
    try {
      const address = await server.listen();
      this.#address = { host: address.address, port: address.port };
      const url = statusPageUrl(address.address, address.port);
      this.#log.info({ host: address.address, port: address.port, url, auth: this.#options.http.token ? 'token' : 'none (loopback)' }, `status page: ${url}`);
    } catch (err) {
      // Metrics are not worth stopping data collection for: keep running, say so, try again later.
      this.#log.error(
        { code: 'GW_HTTP_LISTEN', host, port, err: errorMessage(err), retryInMs: LISTEN_RETRY_MS },
        'cannot listen for metrics and status; check http.host and http.port (another process may use the port)',
      );
      this.#listenRetry = setTimeout(() => void this.#listen(), LISTEN_RETRY_MS);
      this.#listenRetry.unref();
    }
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#inputsStarted = false;
    clearInterval(this.#healthTimer);
    clearInterval(this.#problemTimer);
    clearTimeout(this.#listenRetry);
    await Promise.all([this.#figures.stop(), this.#monitor.stop()]);
    await this.#server?.close();
    this.#server = undefined;
    this.#address = undefined;
  }

  #ready(): ReturnType<typeof readiness> {
    return readiness(this.#figures, this.#inputsStarted);
  }

  /** A problem that was not there at the last check: a gateway-health event now, not at the next interval. */
  #announceNewProblems(reporter: HealthReporter): void {
    let keys: string[];
    try {
      keys = degradation(this.#figures).problems.map((p) => `${p.input}\u0000${p.code}\u0000${p.since}`);
    } catch {
      return;
    }
    const fresh = keys.some((k) => !this.#announcedProblems.has(k));
    this.#announcedProblems = new Set(keys);
    if (fresh) this.#emitHealth(reporter);
  }

  #emitHealth(reporter: HealthReporter): void {
    const sink = this.#options.healthSink();
    if (!sink) return;
    let draft;
    try {
      draft = reporter.draft();
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'could not gather gateway-health figures');
      return;
    }
    sink.append([draft]).catch((err: unknown) => {
      this.#log.error({ code: 'GW_BUFFER_WRITE', err: errorMessage(err) }, 'could not commit a gateway-health event');
    });
  }
}

/** The address a browser opens for a listener (IPv6 in brackets; 0.0.0.0 and :: are every address of this machine). */
export function statusPageUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}
