/**
 * The input families. Each family lives in its own folder (src/inputs/<family>/) with its config schema, its
 * runtime and its README, and plugs in here with one entry (an InputFamily, see input.ts): how to check its config
 * beyond the schema (driver files), how to describe it in the `check-config` plan, and how to create it.
 */
import type { GatewayConfig } from '../config/schema.js';
import type { Input, InputDeps, InputFamily } from './input.js';
import { mqttFamily } from './mqtt/family.js';
import { modbusFamily } from './modbus/family.js';
import { serialFamily } from './serial/family.js';
import { hl7Family } from './hl7/family.js';

export type InputConfigAny = GatewayConfig['inputs'][number];
export type InputType = InputConfigAny['type'];
type InputConfigOf<T extends InputType> = Extract<InputConfigAny, { type: T }>;

const FAMILIES: { [T in InputType]: InputFamily<InputConfigOf<T>> } = {
  mqtt: mqttFamily,
  modbus: modbusFamily,
  serial: serialFamily,
  hl7: hl7Family,
};

export function familyOf(config: InputConfigAny): InputFamily<InputConfigAny> {
  return FAMILIES[config.type] as InputFamily<InputConfigAny>;
}

export function createInput(config: InputConfigAny, deps: InputDeps): Input {
  return familyOf(config).create(config, deps);
}
