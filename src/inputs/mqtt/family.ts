import { GatewayError } from '../../errors.js';
import type { InputFamily } from '../input.js';
import type { MqttInputConfigT } from './config.js';
import { loadMqttDriver, type MqttDriverT } from './drivers.js';
import { formatOf, MQTT_FORMAT_NAMES, MQTT_FORMATS } from './formats/registry.js';
import { MqttInput } from './mqtt-input.js';
import { driverTopics } from './router.js';

/** The formats that take each subscription option (maxDevices: all), from the formats' own option lists. */
const OPTION_FORMATS: ReadonlyMap<string, readonly string[]> = new Map([
  ['maxDevices', MQTT_FORMAT_NAMES],
  ...[...new Set(MQTT_FORMAT_NAMES.flatMap((name) => Object.keys(MQTT_FORMATS[name].options)))].map(
    (option) => [option, MQTT_FORMAT_NAMES.filter((name) => Object.keys(MQTT_FORMATS[name].options).includes(option))] as const,
  ),
]);

function loadDriver(ref: string, context: Parameters<NonNullable<InputFamily<MqttInputConfigT>['check']>>[1]): { driver?: MqttDriverT; file?: string; problems: string[] } {
  try {
    const { driver, file } = loadMqttDriver(ref, context);
    return { driver, file, problems: [] };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    // GW_DRIVER_INVALID details already read `file: path: reason`; GW_DRIVER_NOT_FOUND details say where we looked.
    if (err.code === 'GW_DRIVER_INVALID' && err.details.length > 0) return { problems: err.details.map((d) => `${err.code}: ${d}`) };
    return { problems: [[`${err.code}: ${err.message}`, ...err.details].join('; ')] };
  }
}

export const mqttFamily: InputFamily<MqttInputConfigT> = {
  check(input, context) {
    const problems: string[] = [];
    input.subscriptions.forEach((sub, j) => {
      if (sub.driver === undefined) return;
      const { driver, problems: driverProblems } = loadDriver(sub.driver, context);
      problems.push(...driverProblems.map((p) => `subscriptions[${j}].driver: ${p}`));
      if (driver === undefined) return;
      for (const [option, value] of Object.entries(sub.options ?? {})) {
        const takers = OPTION_FORMATS.get(option) ?? [];
        if (value !== undefined && !takers.includes(driver.format)) {
          problems.push(`subscriptions[${j}].options.${option}: not an option of the ${driver.format} format (only ${takers.join(', ')})`);
        }
      }
      const format = formatOf(driver);
      const checked = format.check?.({ topics: driverTopics(sub, driver), options: sub.options ?? {} }, driver) ?? [];
      problems.push(...checked.map((p) => `subscriptions[${j}].${p}`));
    });
    return problems;
  },
  describe(input, context) {
    const { gatewayId } = context;
    const auth = input.username ? `, user ${input.username}${input.password ? ` with password from ${input.password.origin}` : ''}` : '';
    const lines = [
      `mqtt ${input.name}: ${input.url} (client id ${input.clientId ?? `${gatewayId}-${input.name}`}, persistent session, inflight ${input.inflight}${auth})`,
    ];
    for (const sub of input.subscriptions) {
      if (sub.driver !== undefined) {
        const { driver, file } = loadDriver(sub.driver, context);
        if (driver === undefined) continue;
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
};
