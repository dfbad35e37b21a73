/**
 * Device simulators, one per driver family (the contract is simulator.ts): `telemetry-gateway simulate --driver
 * NAME` loads the driver file, reads its `kind` and starts the simulator of that family (a Modbus server, a serial
 * pseudo-terminal, an MQTT publisher of the driver's format, an HL7 monitor sending over MLLP) serving plausible,
 * changing values for tests and demos. Families add one entry to SIMULATORS.
 */
import { modbusSimulatorFactory } from './modbus.js';
import { mqttSimulatorFactory } from './mqtt.js';
import { serialSimulatorFactory } from './serial.js';
import { hl7SimulatorFactory } from './hl7.js';
import type { SimulatorFamily } from './simulator.js';

/** Simulator per driver `kind` (the first key of every driver file). */
export const SIMULATORS: Readonly<Record<string, SimulatorFamily>> = {
  modbus: { start: modbusSimulatorFactory, options: ['port', 'unitId', 'rtu', 'faults'] },
  serial: { start: serialSimulatorFactory, options: ['faults'] },
  mqtt: { start: mqttSimulatorFactory, options: ['mqttUrl', 'devices', 'base', 'intervalMs'], minIntervalMs: 100 },
  hl7: { start: hl7SimulatorFactory, options: ['port', 'host', 'devices', 'intervalMs', 'count', 'faults'] },
};
