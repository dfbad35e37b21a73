import { readDriverFile, type DriverRead } from '../../drivers/driver-files.js';
import { configProblem, type ConfigProblem } from '../../config/problems.js';
import type { InputContext } from '../input.js';
import type { InputFamily } from '../registry.js';
import type { MqttInputConfigT } from './config.js';
import { isKnownTimeZone, MqttDriverFile, type MqttDriverT } from './drivers.js';
import { MqttInput } from './mqtt-input.js';
import { probeMqttBroker } from './probe.js';
import { formatDuration } from '../../util/duration.js';
import { driverTopics } from './router.js';

/** Which format each option belongs to (an option given to another format is a config mistake, not ignored). */
const OPTION_FORMATS: Readonly<Record<string, readonly string[]>> = {
  changedOnly: ['zigbee2mqtt'],
  timeZone: ['tasmota'],
  maxDevices: ['sparkplug-b', 'zigbee2mqtt', 'tasmota', 'shelly-gen2', 'homeassistant-discovery'],
};

function loadDriver(ref: string, context: InputContext): DriverRead<MqttDriverT> {
  return readDriverFile(ref, MqttDriverFile, context.driverSearchPaths, context.configDir, 'mqtt');
}

export const mqttFamily: InputFamily<MqttInputConfigT> = {
  check(input, context) {
    const problems: ConfigProblem[] = [];
    input.subscriptions.forEach((sub, j) => {
      if (sub.driver === undefined) return;
      const loaded = loadDriver(sub.driver, context);
      if (!loaded.ok) {
        problems.push(...loaded.problems.map((p) => ({ ...p, path: ['subscriptions', j, 'driver'] })));
        return;
      }
      const { driver } = loaded;
      for (const [option, value] of Object.entries(sub.options ?? {})) {
        if (value !== undefined && !(OPTION_FORMATS[option] ?? []).includes(driver.format)) {
          problems.push(configProblem(['subscriptions', j, 'options', option], `not an option of the ${driver.format} format (only ${(OPTION_FORMATS[option] ?? []).join(', ')})`));
        }
      }
      const zone = sub.options?.timeZone ?? (driver.format === 'tasmota' ? driver.timeZone : undefined);
      if (zone !== undefined && !isKnownTimeZone(zone)) {
        problems.push(configProblem(['subscriptions', j, 'options', 'timeZone'], `unknown time zone "${zone}" (use an IANA name like Europe/Berlin or UTC)`));
      }
      if (driver.format === 'zigbee2mqtt' || driver.format === 'homeassistant-discovery') {
        driverTopics(sub, driver).forEach((t) => {
          if (!t.endsWith('/#')) problems.push(configProblem(['subscriptions', j, 'topic'], `the ${driver.format} format needs a filter like <base>/# (got "${t}")`));
        });
      }
    });
    return problems;
  },
  describe(input, context) {
    const { gatewayId } = context;
    const auth = input.username ? `, user ${input.username}${input.password ? ` with password from ${input.password.origin}` : ''}` : '';
    const lines = [
      `mqtt ${input.name}: ${input.url} (client id ${input.clientId ?? `${gatewayId}-${input.name}`}, persistent session, inflight ${input.inflight}${auth})`,
      input.brokerDrops.monitor
        ? `  broker drops: watched on ${input.brokerDrops.counterTopics.join(', ')} (degraded for ${formatDuration(input.brokerDrops.degradedFor)} after a drop)`
        : '  broker drops: not watched (brokerDrops.monitor: false)',
    ];
    for (const sub of input.subscriptions) {
      if (sub.driver !== undefined) {
        const loaded = loadDriver(sub.driver, context);
        if (!loaded.ok) continue;
        const { driver, file } = loaded;
        const options = Object.entries(sub.options ?? {}).map(([k, v]) => `${k} ${String(v)}`);
        lines.push(`  ${driver.format} (driver ${file}): subscribe ${driverTopics(sub, driver).join(', ')} qos ${sub.qos}${options.length > 0 ? `, ${options.join(', ')}` : ''}`);
        continue;
      }
      lines.push(`  subscribe ${sub.topic ?? '?'} qos ${sub.qos}, device id ${sub.deviceId ?? '{topic}'}, ${sub.format}`);
      for (const m of sub.metrics ?? []) {
        const transform = m.scale !== 1 || m.offset !== 0 ? ` ×${m.scale}${m.offset >= 0 ? '+' : ''}${m.offset}` : '';
        lines.push(`    ${m.field ?? '(payload)'} → ${m.metric} [${m.unit ?? '-'}] ${m.type}${transform}${m.code ? ` code ${m.code}` : ''}`);
      }
    }
    return lines;
  },
  create: (config, deps) => new MqttInput(config, deps),
  probe: (config, context, options) => probeMqttBroker(config, context.gatewayId, options),
};
