/**
 * MQTT device simulator: publishes what devices of one ecosystem format publish (Zigbee2MQTT, Tasmota, Shelly
 * Gen2, Sparkplug B, Home Assistant discovery), from the simulation of that format (formats/<format>.ts): their
 * availability, births or discovery configs on start, a round of telemetry every interval, offline or deaths on
 * stop. QoS 1, so a round is done when the broker acknowledged it. It prints the subscription a gateway needs.
 *
 * Programmatic use (tests, the demo):
 *   const sim = await startMqttSimulator({ driver: 'tasmota', mqttUrl, base: 'site-a', intervalMs: 0 });
 *   // gateway subscription: sim.subscription; publish a round: await sim.round(); await sim.stop();
 */
import mqtt, { type MqttClient } from 'mqtt';
import { driverSearchPaths } from '../drivers/driver-files.js';
import { errorMessage, GatewayError } from '../errors.js';
import { loadMqttDriver } from '../inputs/mqtt/drivers.js';
import type { FormatSimulator, SimulatedMessage } from '../inputs/mqtt/formats/format.js';
import { formatOf, type MqttFormatName } from '../inputs/mqtt/formats/registry.js';
import { systemClock, type Clock } from '../util/clock.js';
import { prng } from './random.js';
import type { RunningSimulator, SimulatorFactory } from './simulator.js';

export interface MqttSimulatorOptions {
  /** Driver name (devices/NAME.yaml, kind: mqtt) or path to a driver file. */
  driver: string;
  /** Folder relative driver paths resolve against; default the working directory. */
  configDir?: string;
  mqttUrl: string;
  /** Device names; the format's defaults when empty. */
  devices?: readonly string[];
  /** Topic namespace (see the format's simulation.baseMeans); the format's default when omitted. */
  base?: string;
  /** Period of the telemetry rounds in ms (default 2000); 0: rounds only when round() is called. */
  intervalMs?: number;
  /** Seed of the values' random walks; same seed, same payloads. */
  seed?: number;
  /** Reports a failed round (the timer goes on); default: ignored. */
  onError?: (err: unknown) => void;
  /** The simulated device's clock (timestamps, cadence, deadlines); default the system clock. */
  clock?: Clock;
}

export interface MqttSimulator extends RunningSimulator {
  readonly format: MqttFormatName;
  /** The subscription with which a gateway reads this simulation: `{ driver, topic | topics }`. */
  readonly subscription: { driver: string; topic?: string; topics?: string[] };
  readonly devices: readonly string[];
  readonly base: string;
  /** Messages the broker acknowledged so far. */
  readonly published: number;
  /** Publishes one round of telemetry now; resolves once the broker acknowledged all of it. */
  round(): Promise<void>;
}

export async function startMqttSimulator(options: MqttSimulatorOptions): Promise<MqttSimulator> {
  const configDir = options.configDir ?? process.cwd();
  const clock = options.clock ?? systemClock;
  const { driver } = loadMqttDriver(options.driver, { configDir, driverSearchPaths: driverSearchPaths(configDir) });
  const format = formatOf(driver);
  const simulation = format.simulation;
  const devices = options.devices !== undefined && options.devices.length > 0 ? [...options.devices] : [...simulation.defaultDevices];
  const base = options.base ?? simulation.defaultBase;
  const simulator: FormatSimulator = simulation.create(driver, { devices, base, random: prng(options.seed ?? 0x5eed) });
  let client: MqttClient;
  try {
    // No retries at connect: a wrong URL or a broker that is down is an error the operator sees at once.
    client = await mqtt.connectAsync(options.mqttUrl, { clientId: `etg-sim-${driver.format}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, clean: true, connectTimeout: 10_000, reconnectPeriod: 1000 }, false);
  } catch (err) {
    throw new GatewayError('GW_MQTT_CONNECT', `the ${driver.format} simulator cannot connect to ${options.mqttUrl}: ${errorMessage(err)}`, { details: ['start a broker there, or give its URL with --mqtt-url'] });
  }
  let published = 0;
  const publish = async (messages: readonly SimulatedMessage[]): Promise<void> => {
    // Issued in order (MQTT.js writes them in call order), acknowledged together.
    await Promise.all(
      messages.map(async (m) => {
        await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain ?? false });
        published += 1;
      }),
    );
  };
  await publish(simulator.start(clock.now()));

  let rounds: Promise<void> = Promise.resolve();
  const round = (): Promise<void> => {
    rounds = rounds.then(() => publish(simulator.round(clock.now())));
    return rounds;
  };
  const intervalMs = options.intervalMs ?? 2000;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          round().catch((err: unknown) => options.onError?.(err));
        }, intervalMs)
      : undefined;
  let stopped = false;
  const subscription = { driver: options.driver, ...simulation.subscription(base) };

  return {
    format: driver.format,
    subscription,
    devices,
    base,
    get published() {
      return published;
    },
    round,
    describe() {
      const where = base === '' ? '' : ` under ${base}`;
      const every = intervalMs > 0 ? `every ${intervalMs / 1000} s` : 'on request';
      return `mqtt ${driver.format}: ${devices.length} device(s) (${devices.join(', ')}) publishing to ${options.mqttUrl}${where} ${every}`;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await rounds.catch(() => undefined);
      try {
        await publish(simulator.stop(clock.now()));
      } finally {
        await client.endAsync();
      }
    },
  };
}

/** `telemetry-gateway simulate --driver NAME` for drivers of kind mqtt (registered in SIMULATORS). */
export const mqttSimulatorFactory: SimulatorFactory = async (driver, options, context) => {
  const sim = await startMqttSimulator({
    driver: driver.ref,
    configDir: context.configDir,
    mqttUrl: options.mqttUrl ?? 'mqtt://127.0.0.1:1883',
    devices: options.devices,
    clock: context.clock,
    ...(options.base === undefined ? {} : { base: options.base }),
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    onError: (err) => context.log(`publishing failed (${errorMessage(err)}); the next round tries again`),
  });
  context.log(`gateway subscription: ${JSON.stringify(sim.subscription)}`);
  return sim;
};
