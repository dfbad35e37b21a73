import type { GatewayConfig } from '../config/schema.js';
import type { Input, InputDeps } from './input.js';
import { MqttInput } from './mqtt/mqtt-input.js';

type InputConfigOf<T extends GatewayConfig['inputs'][number]['type']> = Extract<GatewayConfig['inputs'][number], { type: T }>;

/** One factory per input family; the config's `type` picks it. */
const FACTORIES: { [T in GatewayConfig['inputs'][number]['type']]: (config: InputConfigOf<T>, deps: InputDeps) => Input } = {
  mqtt: (config, deps) => new MqttInput(config, deps),
};

export function createInput(config: GatewayConfig['inputs'][number], deps: InputDeps): Input {
  const factory = FACTORIES[config.type] as (config: GatewayConfig['inputs'][number], deps: InputDeps) => Input;
  return factory(config, deps);
}
