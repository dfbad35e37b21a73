import type { InputFamily } from '../registry.js';
import type { MqttInputConfigT } from './config.js';
import { MqttInput } from './mqtt-input.js';

export const mqttFamily: InputFamily<MqttInputConfigT> = {
  describe(input, { gatewayId }) {
    const auth = input.username ? `, user ${input.username}${input.password ? ` with password from ${input.password.origin}` : ''}` : '';
    const lines = [
      `mqtt ${input.name}: ${input.url} (client id ${input.clientId ?? `${gatewayId}-${input.name}`}, persistent session, inflight ${input.inflight}${auth})`,
    ];
    for (const sub of input.subscriptions) {
      lines.push(`  subscribe ${sub.topic} qos ${sub.qos}, device id ${sub.deviceId}, ${sub.format}`);
      for (const m of sub.metrics) {
        const transform = m.scale !== 1 || m.offset !== 0 ? ` ×${m.scale}${m.offset >= 0 ? '+' : ''}${m.offset}` : '';
        lines.push(`    ${m.field ?? '(payload)'} → ${m.metric} [${m.unit ?? '-'}] ${m.type}${transform}${m.code ? ` code ${m.code}` : ''}`);
      }
    }
    return lines;
  },
  create: (config, deps) => new MqttInput(config, deps),
};
