/**
 * Device simulators, one per driver family: `telemetry-gateway simulate --driver NAME` loads the driver file,
 * reads its `kind` and starts the simulator of that family (a Modbus server, a serial pseudo-terminal, an MQTT
 * publisher) serving plausible, changing values for tests and demos. Families add one entry to SIMULATORS.
 */
import type { InputContext } from '../inputs/input.js';
import { modbusSimulatorFactory } from './modbus.js';
import { serialSimulatorFactory } from './serial.js';
import { hl7SimulatorFactory } from './hl7.js';

export interface SimulatorOptions {
  /** TCP port to serve on (Modbus TCP; a free one when omitted), or to send to (HL7: the gateway's listener). */
  port?: number;
  /** Host to send to (HL7); default 127.0.0.1. */
  host?: string;
  /** Cadence of simulators that send (HL7), overriding the driver's; 0 = back to back. */
  intervalMs?: number;
  /** Simulators that send: stop after this many messages. */
  count?: number;
  /** Modbus unit id. */
  unitId?: number;
  /** Serve Modbus RTU on a pseudo-terminal instead of TCP. */
  rtu?: boolean;
  /** MQTT broker URL for simulators that publish. */
  mqttUrl?: string;
  /** Faults to inject, family-specific names (e.g. partial-first-record, garbage, bad-checksum, sentinels). */
  faults: string[];
  /** Device id / topic name used by simulators that need one. */
  deviceId?: string;
}

export interface RunningSimulator {
  /** One line for the operator: what is served where (port, pty path, topic). */
  describe(): string;
  stop(): Promise<void>;
  /** Simulators that send a bounded number of messages (HL7 --count): resolves when the last one was answered. */
  readonly done?: Promise<void>;
  /** A line summing up what was done, printed when `done` resolves. */
  summary?(): string;
}

export type SimulatorFactory = (
  driver: { ref: string; file: string; definition: unknown },
  options: SimulatorOptions,
  context: InputContext & { log: (line: string) => void },
) => Promise<RunningSimulator>;

/** Simulator factory per driver `kind` (the first key of every driver file). */
export const SIMULATORS: Record<string, SimulatorFactory> = {
  modbus: modbusSimulatorFactory,
  serial: serialSimulatorFactory,
  hl7: hl7SimulatorFactory,
};
