import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { driverNotFound, driverSearchPaths, findDriverFile } from '../drivers/driver-files.js';
import { GatewayError } from '../errors.js';
import type { SimulatorOptions } from '../simulators/registry.js';
import { fail } from './common.js';
import { parseDuration } from '../util/duration.js';

function durationFlag(name: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : parseDuration(value);
  if (ms === undefined) throw new GatewayError('GW_USAGE', `${name} ${value}: expected a duration like 500ms, 5s or a number of milliseconds`);
  return ms;
}

interface SimulateFlags {
  driver: string;
  port?: string;
  host?: string;
  interval?: string;
  count?: string;
  unitId?: string;
  rtu?: boolean;
  mqttUrl?: string;
  fault: string[];
  deviceId?: string;
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
  const factory = kind === undefined ? undefined : SIMULATORS[kind];
  if (!factory) {
    throw new GatewayError('GW_USAGE', `driver ${file} has kind "${String(kind)}"; simulators exist for: ${Object.keys(SIMULATORS).join(', ') || 'none'}`);
  }
  const options: SimulatorOptions = {
    faults: flags.fault,
    rtu: flags.rtu ?? false,
    ...(flags.port === undefined ? {} : { port: Number(flags.port) }),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.interval === undefined ? {} : { intervalMs: durationFlag('--interval', flags.interval) }),
    ...(flags.count === undefined ? {} : { count: Number(flags.count) }),
    ...(flags.unitId === undefined ? {} : { unitId: Number(flags.unitId) }),
    ...(flags.mqttUrl === undefined ? {} : { mqttUrl: flags.mqttUrl }),
    ...(flags.deviceId === undefined ? {} : { deviceId: flags.deviceId }),
  };
  const running = await factory({ ref: flags.driver, file, definition }, options, {
    configDir,
    driverSearchPaths: searchPaths,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${running.describe()}\nCtrl-C stops the simulator.\n`);
  const stop = (): void => {
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (flags.count !== undefined && running.done) {
    await running.done;
    process.stdout.write(`${running.summary?.() ?? 'done'}\n`);
    stop();
  }
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('Simulate a device from its driver file (Modbus server, serial pseudo-terminal, ...) with plausible, changing values, for tests and demos')
    .requiredOption('-d, --driver <name>', 'driver name in devices/ (e.g. xy-md02) or a path to a driver file')
    .option('-p, --port <n>', 'TCP port to serve on (default: a free port, printed); HL7: the gateway listener to send to')
    .option('--host <host>', 'HL7: host of the gateway listener (default 127.0.0.1)')
    .option('--interval <duration>', 'HL7: one message this often (e.g. 1s, 500ms; 0 = back to back after each ACK; default the driver\'s)')
    .option('--count <n>', 'HL7: stop after this many messages')
    .option('-u, --unit-id <n>', 'Modbus unit id')
    .option('--rtu', 'serve Modbus RTU on a pseudo-terminal (its path is printed) instead of TCP')
    .option('--mqtt-url <url>', 'MQTT broker for simulators that publish')
    .option('--device-id <id>', 'device id / topic name for simulators that need one')
    .option('-f, --fault <name>', 'inject a fault (repeatable; names depend on the device family)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(simulate);
}
