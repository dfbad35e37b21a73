/**
 * The input families. Each family lives in its own folder (src/inputs/<family>/) with its config schema, its
 * runtime and its README, and plugs in here with one entry: how to check its config beyond the schema (driver
 * files), how to describe it in the `check-config` plan, and how to create it.
 */
import type { ConfigProblem } from '../config/problems.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import type { Input, InputContext, InputDeps } from './input.js';
import { mqttFamily } from './mqtt/family.js';
import { modbusFamily } from './modbus/family.js';
import { serialFamily } from './serial/family.js';
import { hl7Family } from './hl7/family.js';

export type InputConfigAny = GatewayConfig['inputs'][number];
export type InputType = InputConfigAny['type'];
type InputConfigOf<T extends InputType> = Extract<InputConfigAny, { type: T }>;

export interface InputFamily<C> {
  /**
   * Checks what the schema cannot: driver files exist and are valid, references resolve. Returns problems with
   * paths relative to the input (e.g. `['devices', 1, 'driver']`); empty when all is well. The loader runs it in
   * the same pass as the schema, on the valid part of an input that has schema problems.
   */
  check?(config: C, context: InputContext): ConfigProblem[];
  /** Lines of the `check-config` plan for this input (never secret values). */
  describe(config: C, context: InputContext & { gatewayId: string }): string[];
  create(config: C, deps: InputDeps): Input;
  /**
   * Optional (`check-config --probe`): connects to what the input would use and reports its limits that matter
   * for not losing data. Never throws for an unreachable endpoint: that is a line of the report.
   */
  probe?(config: C, context: InputContext & { gatewayId: string }, options: ProbeOptions): Promise<ProbeReport>;
}

export interface ProbeOptions {
  /** How long to wait for a connection and for what the endpoint publishes about itself. */
  timeoutMs: number;
  /** MQTT: measure the broker's queue per client with this many QoS 1 messages (opt-in: it publishes). */
  queueMessages?: number;
}

export interface ProbeLine {
  /** error: loses or risks losing data (the command exits 1); warn: cannot be checked or lost elsewhere. */
  level: 'ok' | 'info' | 'warn' | 'error';
  text: string;
  code?: ErrorCode;
}

export interface ProbeReport {
  input: string;
  reachable: boolean;
  lines: ProbeLine[];
  /** Machine-readable figures for --json (limits, versions, counts). */
  facts: Record<string, unknown>;
}

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
