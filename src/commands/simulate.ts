import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { driverNotFound, driverSearchPaths, findDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import type { SimulatorOption, SimulatorOptions } from '../simulators/simulator.js';
import { fail } from './common.js';
import { systemClock } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';

interface SimulateFlags {
  driver: string;
  port?: string;
  host?: string;
  count?: string;
  unitId?: string;
  rtu?: boolean;
  fault: string[];
  mqttUrl?: string;
  deviceId: string[];
  base?: string;
  interval?: string;
}

/** Command-line spelling of each simulator option, for "not an option of this simulator" errors. */
const FLAG_OF: Readonly<Record<SimulatorOption, string>> = {
  port: '--port',
  host: '--host',
  count: '--count',
  unitId: '--unit-id',
  rtu: '--rtu',
  faults: '--fault',
  mqttUrl: '--mqtt-url',
  devices: '--device-id',
  base: '--base',
  intervalMs: '--interval',
};

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new GatewayError('GW_USAGE', `${flag}: expected a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** `--interval`: a duration (500ms, 2s) or a number of milliseconds, at least the simulator's shortest period. */
function intervalFlag(text: string, minMs: number): number {
  const ms = /^\d+$/.test(text) ? Number(text) : parseDuration(text);
  if (ms === undefined || ms < minMs) {
    const what = minMs > 0 ? `a duration of at least ${minMs}ms (e.g. 500ms, 2s)` : 'a duration (e.g. 500ms, 2s; 0 = back to back)';
    throw new GatewayError('GW_USAGE', `--interval: expected ${what}, got "${text}"`);
  }
  return ms;
}

async function simulate(flags: SimulateFlags): Promise<void> {
  // Loaded only when simulate runs: `run` registers this command too and need not carry the simulators.
  const { SIMULATORS } = await import('../simulators/registry.js');
  const configDir = process.cwd();
  const searchPaths = driverSearchPaths(configDir);
  const file = findDriverFile(flags.driver, searchPaths, configDir);
  if (!file) throw new GatewayError('GW_DRIVER_NOT_FOUND', driverNotFound(flags.driver, searchPaths, configDir).message);
  const definition = parse(readFileSync(file, 'utf8')) as { kind?: unknown } | null;
  const kind = typeof definition?.kind === 'string' ? definition.kind : undefined;
  const family = kind === undefined ? undefined : SIMULATORS[kind];
  if (!family) {
    throw new GatewayError('GW_USAGE', `driver ${file} has kind "${String(kind)}"; simulators exist for: ${Object.keys(SIMULATORS).join(', ')}`);
  }
  const options: SimulatorOptions = {
    faults: flags.fault,
    devices: flags.deviceId,
    ...(flags.rtu === undefined ? {} : { rtu: flags.rtu }),
    ...(flags.port === undefined ? {} : { port: integer('--port', flags.port, 1, 65_535) }),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.count === undefined ? {} : { count: integer('--count', flags.count, 1, Number.MAX_SAFE_INTEGER) }),
    ...(flags.unitId === undefined ? {} : { unitId: integer('--unit-id', flags.unitId, 0, 255) }),
    ...(flags.mqttUrl === undefined ? {} : { mqttUrl: flags.mqttUrl }),
    ...(flags.base === undefined ? {} : { base: flags.base }),
    ...(flags.interval === undefined ? {} : { intervalMs: intervalFlag(flags.interval, family.minIntervalMs ?? 0) }),
  };
  // An option this simulator does not take is a mistake to report, not to ignore.
  const given = (Object.keys(FLAG_OF) as SimulatorOption[]).filter((o) => {
    const v = options[o];
    return Array.isArray(v) ? v.length > 0 : v !== undefined;
  });
  const refused = given.filter((o) => !family.options.includes(o));
  if (refused.length > 0) {
    throw new GatewayError('GW_USAGE', `${refused.map((o) => FLAG_OF[o]).join(', ')}: not an option of the ${String(kind)} simulator (it takes ${family.options.map((o) => FLAG_OF[o]).join(', ')})`);
  }
  const running = await family.start({ ref: flags.driver, file, definition }, options, {
    configDir,
    driverSearchPaths: searchPaths,
    log: (line: string) => process.stdout.write(`${line}\n`),
    clock: systemClock,
  });
  const stop = (): void => {
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Printed once Ctrl-C stops the simulator cleanly (tests wait for this line).
  process.stdout.write(`${running.describe()}\nCtrl-C stops the simulator.\n`);
  if (options.count !== undefined && running.done) {
    await running.done;
    process.stdout.write(`${running.summary?.() ?? 'done'}\n`);
    stop();
  }
}

const repeat = (v: string, all: string[]): string[] => [...all, v];

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'Simulate a device from its driver file, with plausible, changing values, for tests and demos: a Modbus server (kind: modbus), a serial pseudo-terminal (kind: serial), an MQTT publisher of the driver\'s format (kind: mqtt: zigbee2mqtt, tasmota, shelly-gen2, sparkplug-b, homeassistant-discovery) or an HL7 monitor sending to the gateway over MLLP (kind: hl7)',
    )
    .requiredOption('-d, --driver <name>', 'driver name in devices/ (e.g. xy-md02, zigbee2mqtt, ihe-pcd01) or a path to a driver file')
    .option('-p, --port <n>', 'modbus: TCP port to serve on (default: a free port, printed); hl7: port of the gateway\'s MLLP listener to send to')
    .option('--host <host>', 'hl7: host of the gateway\'s MLLP listener (default 127.0.0.1)')
    .option('-u, --unit-id <n>', 'modbus: unit id (default 1)')
    .option('--rtu', 'modbus: serve Modbus RTU on a pseudo-terminal (its path is printed) instead of TCP')
    .option('-f, --fault <name>', 'modbus, serial, hl7: inject a fault (repeatable; names depend on the device family)', repeat, [] as string[])
    .option('--mqtt-url <url>', 'mqtt: broker to publish to (default mqtt://127.0.0.1:1883)')
    .option('--device-id <name>', 'mqtt: a simulated device\'s name (repeatable; default: the format\'s sample devices); hl7: the monitor\'s name (default sim-monitor-1)', repeat, [] as string[])
    .option('--base <topic>', 'mqtt: topic namespace: the Zigbee2MQTT base topic, the discovery prefix, the Sparkplug group id, or a prefix for Tasmota and Shelly topics')
    .option('--interval <duration>', 'mqtt: time between telemetry rounds (default 2s, at least 100ms); hl7: one message this often (e.g. 1s, 500ms; 0 = back to back after each ACK; default the driver\'s)')
    .option('--count <n>', 'hl7: stop after this many messages')
    .action(simulate);
}
