/**
 * The set-up of every end-to-end test that publishes to a gateway: one gateway process (`node dist/cli.js run`)
 * with an MQTT input on the suite's private Mosquitto, writing to the suite's Kafka under topics of its own, a
 * QoS 1 sensor publisher, and a wait for readiness as an operator sees it (/readyz 200, subscriptions granted).
 *
 *   const gw = await MqttGateway.start({ name: 'e2e' });
 *   await gw.publisher.publishMany(gw.sensors, 0, 100, 5);
 *   await readTopic(gw.kafka, gw.topic('readings'), 200);
 *   expect(await gw.close()).toBe(0);
 */
import { inject } from 'vitest';
import { GatewayProcess, writeTestConfig, type TestConfigOptions } from './gateway-process.js';
import { SensorPublisher } from './publisher.js';
import { uniqueName } from './wait.js';

export interface MqttGatewayOptions {
  /** Prefix of the unique gateway id (also the topic prefix, client ids and the sensors' base topic). */
  name: string;
  /** Kafka brokers; the suite's broker by default. */
  brokers?: string[];
  /** kafka.client (default: the gateway's default). */
  client?: TestConfigOptions['client'];
  subscriptions?: unknown[];
  /** Top-level config sections replacing the test defaults (http, health, buffer, inputs, …). */
  overrides?: Record<string, unknown>;
  bufferPath?: string;
  env?: NodeJS.ProcessEnv;
  /** A command that execs the gateway (see GatewayProcess). */
  wrapper?: readonly string[];
  /** Connect the sensor publisher (default true). */
  publisher?: boolean;
  /** Wait for ready (/readyz 200 and every MQTT input subscribed; default true). */
  ready?: boolean;
}

export class MqttGateway {
  readonly kafka: string;
  readonly mqttUrl: string;
  readonly gatewayId: string;
  /** Kafka topic prefix of this gateway: `<gatewayId>.`. */
  readonly prefix: string;
  /** Base topic of the default sensor subscription: publish to `<sensors>/<device>`. */
  readonly sensors: string;
  readonly configFile: string;
  readonly dir: string;
  readonly bufferPath: string;
  readonly #options: MqttGatewayOptions;
  #gateway: GatewayProcess;
  #publisher: SensorPublisher | undefined;

  private constructor(options: MqttGatewayOptions, ids: { kafka: string; mqttUrl: string; gatewayId: string }, written: { file: string; dir: string; bufferPath: string }) {
    this.#options = options;
    this.kafka = ids.kafka;
    this.mqttUrl = ids.mqttUrl;
    this.gatewayId = ids.gatewayId;
    this.prefix = `${ids.gatewayId}.`;
    this.sensors = `${ids.gatewayId}/sensors`;
    this.configFile = written.file;
    this.dir = written.dir;
    this.bufferPath = written.bufferPath;
    this.#gateway = new GatewayProcess(written.file, options.env, options.wrapper);
  }

  static async start(options: MqttGatewayOptions): Promise<MqttGateway> {
    const kafka = inject('kafkaBootstrap');
    const mqttUrl = inject('mqttUrl');
    const gatewayId = uniqueName(options.name);
    const config: TestConfigOptions = {
      gatewayId,
      brokers: options.brokers ?? [kafka],
      mqttUrl,
      topicPrefix: `${gatewayId}.`,
      ...(options.client === undefined ? {} : { client: options.client }),
      ...(options.bufferPath === undefined ? {} : { bufferPath: options.bufferPath }),
      ...(options.subscriptions === undefined ? {} : { subscriptions: options.subscriptions }),
      ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
    };
    const fixture = new MqttGateway(options, { kafka, mqttUrl, gatewayId }, writeTestConfig(config));
    try {
      if (options.ready ?? true) await fixture.#gateway.ready();
      if (options.publisher ?? true) fixture.#publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
    } catch (err) {
      await fixture.kill();
      throw err;
    }
    return fixture;
  }

  get gateway(): GatewayProcess {
    return this.#gateway;
  }

  get publisher(): SensorPublisher {
    if (this.#publisher === undefined) throw new Error('this fixture was started with publisher: false');
    return this.#publisher;
  }

  /** The Kafka topic of an event family: readings, alarms, device-status, gateway-health, deadletter. */
  topic(family: 'readings' | 'alarms' | 'device-status' | 'gateway-health' | 'deadletter'): string {
    return `${this.prefix}${family}`;
  }

  /**
   * Ends the gateway (SIGTERM, or SIGKILL for a crash) and starts it again on the same config and buffer.
   * `stopped` runs once the old process has ended and before the new one starts (to look at the buffer file then);
   * `wait` is what to wait for after the start: ready (default: /readyz 200 and every MQTT input subscribed) or
   * only started (GatewayProcess.started(): /readyz 200, without waiting for the subscriptions).
   */
  async restart(how: 'stop' | 'kill' = 'stop', options: { wait?: 'ready' | 'started'; stopped?: (code: number | null) => void | Promise<void> } = {}): Promise<number | null> {
    const code = how === 'stop' ? await this.#gateway.stop() : (await this.#gateway.kill(), null);
    await options.stopped?.(code);
    this.#gateway = new GatewayProcess(this.configFile, this.#options.env, this.#options.wrapper);
    if ((options.wait ?? 'ready') === 'ready') await this.#gateway.ready();
    else await this.#gateway.started();
    return code;
  }

  /** Closes the publisher and stops the gateway (SIGTERM); resolves with its exit code. */
  async close(): Promise<number | null> {
    await this.#publisher?.close();
    this.#publisher = undefined;
    return this.#gateway.stop();
  }

  /** For cleanups after a failure: no graceful anything. */
  async kill(): Promise<void> {
    await this.#publisher?.close().catch(() => undefined);
    this.#publisher = undefined;
    await this.#gateway.kill();
  }
}
