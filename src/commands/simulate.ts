import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { driverSearchPaths, findDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import { SIMULATORS } from '../simulators/registry.js';
import type { SimulatorOption, SimulatorOptions } from '../simulators/simulator.js';
import { parseDuration } from '../util/duration.js';
import { fail } from './common.js';

interface SimulateFlags {
  driver: string;
  port?: string;
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

async function simulate(flags: SimulateFlags): Promise<void> {
  const configDir = process.cwd();
  const searchPaths = driverSearchPaths(configDir);
  const file = findDriverFile(flags.driver, searchPaths, configDir);
  if (!file) throw new GatewayError('GW_DRIVER_NOT_FOUND', `driver "${flags.driver}" not found`, { details: [`looked in: ${searchPaths.join(', ')}`] });
  const definition = parse(readFileSync(file, 'utf8')) as { kind?: unknown } | null;
  const kind = typeof definition?.kind === 'string' ? definition.kind : undefined;
  const family = kind === undefined ? undefined : SIMULATORS[kind];
  if (!family) {
    throw new GatewayError('GW_USAGE', `driver ${file} has kind "${String(kind)}"; simulators exist for: ${Object.keys(SIMULATORS).join(', ')}`);
  }
  let intervalMs: number | undefined;
  if (flags.interval !== undefined) {
    intervalMs = parseDuration(flags.interval);
    if (intervalMs === undefined || intervalMs < 100) throw new GatewayError('GW_USAGE', `--interval: expected a duration of at least 100ms (e.g. 500ms, 2s), got "${flags.interval}"`);
  }
  const options: SimulatorOptions = {
    faults: flags.fault,
    devices: flags.deviceId,
    ...(flags.rtu === undefined ? {} : { rtu: flags.rtu }),
    ...(flags.port === undefined ? {} : { port: integer('--port', flags.port, 1, 65_535) }),
    ...(flags.unitId === undefined ? {} : { unitId: integer('--unit-id', flags.unitId, 0, 255) }),
    ...(flags.mqttUrl === undefined ? {} : { mqttUrl: flags.mqttUrl }),
    ...(flags.base === undefined ? {} : { base: flags.base }),
    ...(intervalMs === undefined ? {} : { intervalMs }),
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
  });
  const stop = (): void => {
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Printed last: once it is out, Ctrl-C stops the simulator cleanly (tests wait for this line).
  process.stdout.write(`${running.describe()}\nCtrl-C stops the simulator.\n`);
}

const repeat = (v: string, all: string[]): string[] => [...all, v];

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'Simulate a device from its driver file, with plausible, changing values, for tests and demos: a Modbus server (kind: modbus), a serial pseudo-terminal (kind: serial) or an MQTT publisher of the driver\'s format (kind: mqtt: zigbee2mqtt, tasmota, shelly-gen2, sparkplug-b, homeassistant-discovery)',
    )
    .requiredOption('-d, --driver <name>', 'driver name in devices/ (e.g. xy-md02, zigbee2mqtt) or a path to a driver file')
    .option('-p, --port <n>', 'modbus: TCP port to serve on (default: a free port, printed)')
    .option('-u, --unit-id <n>', 'modbus: unit id (default 1)')
    .option('--rtu', 'modbus: serve Modbus RTU on a pseudo-terminal (its path is printed) instead of TCP')
    .option('-f, --fault <name>', 'modbus, serial: inject a fault (repeatable; names depend on the device family)', repeat, [] as string[])
    .option('--mqtt-url <url>', 'mqtt: broker to publish to (default mqtt://127.0.0.1:1883)')
    .option('--device-id <name>', 'mqtt: a simulated device\'s name (repeatable; default: the format\'s sample devices)', repeat, [] as string[])
    .option('--base <topic>', 'mqtt: topic namespace: the Zigbee2MQTT base topic, the discovery prefix, the Sparkplug group id, or a prefix for Tasmota and Shelly topics')
    .option('--interval <duration>', 'mqtt: time between telemetry rounds (default 2s)')
    .action(simulate);
}
