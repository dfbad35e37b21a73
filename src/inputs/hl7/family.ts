import { readDriverFile, type DriverRead } from '../../drivers/driver-files.js';
import { configProblem } from '../../config/problems.js';
import type { InputContext } from '../input.js';
import type { InputFamily } from '../input.js';
import type { Hl7InputConfigT } from './config.js';
import { Hl7Driver, type Hl7DriverT } from './driver.js';
import { Hl7Input } from './hl7-input.js';

function loadDriver(ref: string, context: InputContext): DriverRead<Hl7DriverT> {
  return readDriverFile(ref, Hl7Driver, context.driverSearchPaths, context.configDir, 'hl7');
}

function describeAckModes(): string {
  return 'ACK after commit: original mode AA / AE / AR, enhanced mode (MSH-15/16) CA / CE / CR and AA / AE / AR as asked';
}

export const hl7Family: InputFamily<Hl7InputConfigT> = {
  check(input, context) {
    const loaded = loadDriver(input.driver, context);
    if (!loaded.ok) return loaded.problems.map((p) => ({ ...p, path: ['driver'] }));
    if (Object.keys(loaded.driver.messages).length === 0) return [configProblem(['driver'], 'the driver handles no message type (messages is empty)')];
    return [];
  },
  describe(input, context) {
    const where = input.listen
      ? `listen ${input.listen.host}:${input.listen.port}${input.listen.tls ? ` TLS${input.listen.tls.verifyClient ? ' with client certificates' : ''}` : input.listen.allowInsecure ? ' without TLS (allowInsecure)' : ' (loopback, no TLS)'}, ` +
        `${input.listen.allow.length > 0 ? `from ${input.listen.allow.join(', ')}` : 'from any address'}, at most ${input.listen.maxConnections} connections`
      : `connect to ${input.connect?.host ?? '?'}:${input.connect?.port ?? '?'}${input.connect?.tls ? ' TLS' : ''}, reconnect ${input.connect?.reconnect.initial}-${input.connect?.reconnect.max} ms`;
    const lines = [`hl7 ${input.name}: MLLP ${where}`];
    lines.push(`  ${describeAckModes()}; resends (MSH-3 + MSH-4 + MSH-10) recognised for ${input.duplicates.window / 3_600_000} h; max message ${input.maxFrameBytes} bytes`);
    lines.push(`  device id ${input.deviceId}; times without offset in ${input.timezone}; patient identifiers ${input.patientIdentifiers ? 'allowed in the device id' : 'never copied'}`);
    const loaded = loadDriver(input.driver, context);
    if (!loaded.ok) {
      lines.push(`  driver ${input.driver} not usable (${loaded.problems[0]?.message ?? ''})`);
      return lines;
    }
    const d = loaded.driver;
    const messages = Object.entries(d.messages).map(([type, kind]) => `${type} → ${kind === 'observations' ? 'readings' : 'alarms'}`);
    lines.push(`  driver ${d.name} (${loaded.file}): ${messages.join(', ')}; other types ${input.unsupported === 'reject' ? 'refused (AR / CR)' : 'dead-lettered (AA / CA)'}; versions ${d.versions.join(', ')}`);
    for (const c of d.observations.codes) {
      lines.push(`    ${[c.code, c.refid].filter((v) => v !== undefined).join(' ')}${c.hierarchy ? ` at OBX-4 ${c.hierarchy}` : ''} → ${c.metric}${c.type === 'string' ? ' (text)' : ''}`);
    }
    lines.push(`    other numeric codes: ${d.observations.unknownCodes === 'reading' ? 'readings named by their reference id' : 'ignored'}; ${Object.keys(d.units).length} units mapped to UCUM (others kept, quality uncertain)`);
    const statuses = Object.entries(d.observations.resultStatus).map(([s, q]) => `${s} ${q}`);
    lines.push(`    OBX-11 result status: ${statuses.join(', ')}; empty ${d.observations.missingStatus}, other uncertain`);
    if (Object.values(d.messages).includes('alarms')) {
      const events = Object.entries(d.alarms.events).map(([code, name]) => `${code} ${name}`);
      lines.push(`    alarms: priority ${Object.entries(d.alarms.priorities).map(([p, s]) => `${p} ${s}`).join(', ')}; events ${events.join(', ') || 'by their code'}`);
    }
    return lines;
  },
  create: (config, deps) => new Hl7Input(config, deps),
};
