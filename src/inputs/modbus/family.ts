import { GatewayError } from '../../errors.js';
import { loadDriverFile } from '../../drivers/driver-files.js';
import type { InputContext, InputFamily } from '../input.js';
import { describeTransport } from './bus.js';
import type { ModbusInputConfigT } from './config.js';
import { ModbusDriverSchema, type ModbusDriver } from './driver.js';
import { ModbusInput } from './modbus-input.js';
import { describeRequest, planDevice } from './planner.js';

type DriverLoad = { ok: true; file: string; driver: ModbusDriver } | { ok: false; problems: string[] };

function loadDriver(ref: string, context: InputContext): DriverLoad {
  try {
    const { file, driver } = loadDriverFile(ref, ModbusDriverSchema, context.driverSearchPaths, context.configDir);
    return { ok: true, file, driver };
  } catch (err) {
    if (err instanceof GatewayError) return { ok: false, problems: [`${err.code}: ${err.message}`, ...err.details] };
    throw err;
  }
}

function formatMs(ms: number): string {
  if (ms === 0) return '0 ms';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export const modbusFamily: InputFamily<ModbusInputConfigT> = {
  check(input, context) {
    const problems: string[] = [];
    input.devices.forEach((device, i) => {
      const loaded = loadDriver(device.driver, context);
      if (!loaded.ok) {
        problems.push(...loaded.problems.map((p) => `devices[${i}].driver: ${p}`));
        return;
      }
      problems.push(...planDevice(loaded.driver, device).problems.map((p) => `devices[${i}].${p}`));
    });
    return problems;
  },
  describe(input, context) {
    const c = input;
    const lines = [
      `modbus ${c.name}: ${describeTransport(c.transport)} (timeout ${formatMs(c.timeout)}, ${c.retries} retr${c.retries === 1 ? 'y' : 'ies'}${c.retryOnBusy ? ', retry on busy' : ''}, inter-request delay ${formatMs(c.interRequestDelay)}, offline after ${c.offlineAfter} failed polls, requests serialized)`,
    ];
    let perSecond = 0;
    for (const device of c.devices) {
      const loaded = loadDriver(device.driver, context);
      if (!loaded.ok) {
        lines.push(`  device ${device.id} unit ${device.unitId}: driver ${device.driver} not usable (${loaded.problems[0] ?? ''})`);
        continue;
      }
      lines.push(`  device ${device.id} unit ${device.unitId}: ${loaded.driver.model} (driver ${loaded.file})`);
      for (const group of planDevice(loaded.driver, device).groups) {
        perSecond += (group.requests.length * 1000) / group.intervalMs;
        lines.push(`    group ${group.name} every ${formatMs(group.intervalMs)}: ${group.requests.length} request(s)`);
        for (const request of group.requests) lines.push(`      ${describeRequest(request)}`);
      }
    }
    lines.push(`  ≈ ${Number(perSecond.toPrecision(3))} requests/s on this bus`);
    return lines;
  },
  create: (config, deps) => new ModbusInput(config, deps),
};
