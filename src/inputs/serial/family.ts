import { readDriverFile, type DriverRead } from '../../drivers/driver-files.js';
import { configProblem, type ConfigProblem } from '../../config/problems.js';
import type { InputContext, InputFamily } from '../input.js';
import type { SerialInputConfigT } from './config.js';
import { SerialDriver, type FieldSpecT, type SerialDriverT } from './driver.js';
import { describeLine, effectiveLineSettings, SerialInput } from './serial-input.js';

function loadDriver(ref: string, context: InputContext): DriverRead<SerialDriverT> {
  return readDriverFile(ref, SerialDriver, context.driverSearchPaths, context.configDir, 'serial');
}

function describeFraming(driver: SerialDriverT): string {
  const f = driver.framing;
  const checksum = driver.checksum ? `, checksum ${driver.checksum.type}` : '';
  const packet = driver.packet ? `, ${driver.packet.frames} frames a packet` : '';
  switch (f.type) {
    case 'lines':
      return `lines ending ${f.endings}${f.start ? ` starting ${JSON.stringify(f.start)}` : ''}, max ${f.maxLength} bytes${checksum}`;
    case 'fixed':
      return `fixed ${f.length}-byte frames${f.match.length ? ` (${f.match.length} byte tests)` : ''}${checksum}${packet}`;
    case 'length-field':
      return `start ${f.start.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ')} + ${f.lengthBytes}-byte length at ${f.lengthAt}${checksum}`;
    case 'start-end':
      return `0x${f.start.toString(16)} … 0x${f.end.toString(16)}${f.escape === undefined ? '' : `, escape 0x${f.escape.toString(16)}`}${checksum}`;
  }
}

function describeField(f: FieldSpecT): string {
  const where = f.from ?? (f.parts ?? []).map((p) => `frame ${p.frame} byte ${p.byte}${p.mask === 255 ? '' : ` & 0x${p.mask.toString(16)}`}${p.shift ? ` << ${p.shift}` : ''}`).join(' | ');
  const transform = f.scale !== 1 || f.offset !== 0 ? ` ×${f.scale}${f.offset >= 0 ? '+' : ''}${f.offset}` : '';
  const sentinels = f.sentinels.length ? `, no value: ${f.sentinels.join(' ')}` : '';
  const coordinate = f.transform === 'nmea-coordinate' ? ` (ddmm.mmmm with ${f.hemisphere ?? '?'} → degrees)` : '';
  const bad = f.badWhen ? `, bad when ${f.badWhen.from} is ${f.badWhen.in.join('/')}` : '';
  return `${where}${coordinate} → ${f.metric} [${f.unit ?? '-'}]${transform}${f.code ? ` code ${f.code}` : ''}${sentinels}${bad}`;
}

export const serialFamily: InputFamily<SerialInputConfigT> = {
  check(input, context) {
    const loaded = loadDriver(input.driver, context);
    if (!loaded.ok) return loaded.problems.map((p) => ({ ...p, path: ['driver'] }));
    const problems: ConfigProblem[] = [];
    if (loaded.driver.framing.type === 'fixed' && loaded.driver.framing.length > input.maxFrameBytes) {
      problems.push(configProblem(['maxFrameBytes'], `${input.maxFrameBytes} is smaller than the driver's ${loaded.driver.framing.length}-byte frames`));
    }
    return problems;
  },
  describe(input, context) {
    const loaded = loadDriver(input.driver, context);
    if (!loaded.ok) return [`serial ${input.name}: ${input.port}, device ${input.deviceId}: driver ${input.driver} not usable (${loaded.problems[0]?.message ?? ''})`];
    const d = loaded.driver;
    const line = effectiveLineSettings(d, input);
    const lines = [
      `serial ${input.name}: ${input.port} (${describeLine(line)}), device ${input.deviceId}, driver ${d.name} (${loaded.file})`,
      `  framing: ${describeFraming(d)}; reopen every ${input.reopen.initial}-${input.reopen.max} ms while the port is missing`,
    ];
    for (const record of d.records) {
      lines.push(`  record ${record.name}${record.when ? ` when /${record.when}/` : ''}: ${record.parse.type}${record.timestamp ? `, device time from ${record.timestamp.from.join('+')} (${record.timestamp.format}, zone ${record.timestamp.zone ?? input.timezone})` : ', no device time'}`);
      for (const f of record.fields) lines.push(`    ${describeField(f)}`);
      for (const flags of record.alarms) {
        lines.push(`    alarms from ${flags.from ?? 'status bits'}: ${flags.bits.map((b) => `0x${b.mask.toString(16)} ${b.alarm} (${b.severity})`).join(', ')}`);
      }
    }
    if (d.unmatched === 'ignore') lines.push('  other valid records: ignored (counted)');
    return lines;
  },
  create: (config, deps) => new SerialInput(config, deps),
};
