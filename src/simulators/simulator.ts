/**
 * The contract of a device simulator: `telemetry-gateway simulate --driver NAME` loads the driver file, reads its
 * `kind` and starts the simulator of that family (src/simulators/registry.ts) with the options the command line
 * gave. Each simulator names the options it takes; the command refuses the others instead of ignoring them.
 */
import type { InputContext } from '../inputs/input.js';
import type { Clock } from '../util/clock.js';

export interface SimulatorOptions {
  /** TCP port to serve on (Modbus TCP; a free one when omitted), or to send to (HL7: the gateway's listener). */
  port?: number;
  /** Host to send to (HL7); default 127.0.0.1. */
  host?: string;
  /** Simulators that send (HL7): stop after this many messages. */
  count?: number;
  /** Modbus unit id. */
  unitId?: number;
  /** Serve Modbus RTU on a pseudo-terminal instead of TCP. */
  rtu?: boolean;
  /** Faults to inject, family-specific names (e.g. partial-first-record, garbage, bad-checksum, sentinels). */
  faults: string[];
  /** MQTT broker URL the MQTT simulators publish to. */
  mqttUrl?: string;
  /** Device names: of the MQTT simulators (topic levels, Sparkplug edge nodes), or the one HL7 monitor; defaults when empty. */
  devices: string[];
  /** Topic namespace of the MQTT simulators (Zigbee2MQTT base topic, discovery prefix, Sparkplug group, prefix). */
  base?: string;
  /** Period of the MQTT simulators' telemetry rounds, or the HL7 monitor's cadence (0 = back to back), in ms. */
  intervalMs?: number;
}

/** The command-line options, by their SimulatorOptions field, that a simulator may take. */
export type SimulatorOption = 'port' | 'host' | 'count' | 'unitId' | 'rtu' | 'faults' | 'mqttUrl' | 'devices' | 'base' | 'intervalMs';

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
  /** `clock`: the one the command created (the system clock); the simulator reads time only from it. */
  context: InputContext & { log: (line: string) => void; clock: Clock },
) => Promise<RunningSimulator>;

/** One simulator family: how to start it and which options it takes. */
export interface SimulatorFamily {
  start: SimulatorFactory;
  options: readonly SimulatorOption[];
  /** Shortest `--interval` it accepts, in ms (default 0). */
  minIntervalMs?: number;
}
