import { readDriverFile, type DriverRead } from '../../drivers/driver-files.js';
import { configProblem, type ConfigProblem } from '../../config/problems.js';
import type { InputContext, InputFamily } from '../input.js';
import { describeTransport } from './bus.js';
import type { ModbusInputConfigT } from './config.js';
import { ModbusDriverSchema, type ModbusDriver } from './driver.js';
import { ModbusInput } from './modbus-input.js';
import { describeRequest, planDevice } from './planner.js';
import { formatDuration } from '../../util/duration.js';

function loadDriver(ref: string, context: InputContext): DriverRead<ModbusDriver> {
  return readDriverFile(ref, ModbusDriverSchema, context.driverSearchPaths, context.configDir, 'modbus');
}


export const modbusFamily: InputFamily<ModbusInputConfigT> = {
  check(input, context) {
    const problems: ConfigProblem[] = [];
    input.devices.forEach((device, i) => {
      const loaded = loadDriver(device.driver, context);
      if (!loaded.ok) {
        problems.push(...loaded.problems.map((p) => ({ ...p, path: ['devices', i, 'driver'] })));
        return;
      }
      problems.push(...planDevice(loaded.driver, device).problems.map((p) => configProblem(['devices', i, ...p.path], p.message)));
    });
    return problems;
  },
  describe(input, context) {
    const c = input;
    const lines = [
      `modbus ${c.name}: ${describeTransport(c.transport)} (timeout ${formatDuration(c.timeout)}, ${c.retries} retr${c.retries === 1 ? 'y' : 'ies'}${c.retryOnBusy ? ', retry on busy' : ''}, inter-request delay ${formatDuration(c.interRequestDelay)}, offline after ${c.offlineAfter} failed polls, requests serialized)`,
    ];
    let perSecond = 0;
    for (const device of c.devices) {
      const loaded = loadDriver(device.driver, context);
      if (!loaded.ok) {
        lines.push(`  device ${device.id} unit ${device.unitId}: driver ${device.driver} not usable (${loaded.problems[0]?.message ?? ''})`);
        continue;
      }
      lines.push(`  device ${device.id} unit ${device.unitId}: ${loaded.driver.model} (driver ${loaded.file})`);
      for (const group of planDevice(loaded.driver, device).groups) {
        perSecond += (group.requests.length * 1000) / group.intervalMs;
        lines.push(`    group ${group.name} every ${formatDuration(group.intervalMs)}: ${group.requests.length} request(s)`);
        for (const request of group.requests) lines.push(`      ${describeRequest(request)}`);
      }
    }
    lines.push(`  ≈ ${Number(perSecond.toPrecision(3))} requests/s on this bus`);
    return lines;
  },
  create: (config, deps) => new ModbusInput(config, deps),
};
