import { configProblem, type ConfigProblem } from '../../config/problems.js';
import type { InputFamily } from '../input.js';
import type { MqttInputConfigT } from './config.js';
import { readMqttDriver } from './drivers.js';
import { formatOf, MQTT_FORMAT_NAMES, MQTT_FORMATS } from './formats/registry.js';
import { MqttInput } from './mqtt-input.js';
import { probeMqttBroker } from './probe.js';
import { formatDuration } from '../../util/duration.js';
import { driverTopics } from './router.js';

/** The formats that take each subscription option (maxDevices: all), from the formats' own option lists. */
const OPTION_FORMATS: ReadonlyMap<string, readonly string[]> = new Map([
  ['maxDevices', MQTT_FORMAT_NAMES],
  ...[...new Set(MQTT_FORMAT_NAMES.flatMap((name) => Object.keys(MQTT_FORMATS[name].options)))].map(
    (option) => [option, MQTT_FORMAT_NAMES.filter((name) => Object.keys(MQTT_FORMATS[name].options).includes(option))] as const,
  ),
]);

export const mqttFamily: InputFamily<MqttInputConfigT> = {
  check(input, context) {
    const problems: ConfigProblem[] = [];
    input.subscriptions.forEach((sub, j) => {
      if (sub.driver === undefined) return;
      const loaded = readMqttDriver(sub.driver, context);
      if (!loaded.ok) {
        problems.push(...loaded.problems.map((p) => ({ ...p, path: ['subscriptions', j, 'driver'] })));
        return;
      }
      const { driver } = loaded;
      for (const [option, value] of Object.entries(sub.options ?? {})) {
        const takers = OPTION_FORMATS.get(option) ?? [];
        if (value !== undefined && !takers.includes(driver.format)) {
          problems.push(configProblem(['subscriptions', j, 'options', option], `not an option of the ${driver.format} format (only ${takers.join(', ')})`));
        }
      }
      const format = formatOf(driver);
      const checked = format.check?.({ topics: driverTopics(sub, driver), options: sub.options ?? {} }, driver) ?? [];
      problems.push(...checked.map((p) => ({ ...p, path: ['subscriptions', j, ...p.path] })));
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
        const loaded = readMqttDriver(sub.driver, context);
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
