/**
 * MQTT driver files (devices/<name>.yaml with `kind: mqtt`): one per ecosystem format, holding the data of the
 * format (key → metric/unit tables, abbreviations, default topics) so the decoders in formats/ hold only logic.
 */
import { z } from 'zod';
import { loadDriverFile, type LoadedDriver } from '../../drivers/driver-files.js';
import type { InputContext } from '../input.js';

const ucumUnit = z.string().min(1).describe('UCUM unit code, e.g. Cel, %, W, kW.h');

/** How one device key becomes a reading. */
export const FieldMapping = z
  .object({
    metric: z.string().min(1).optional().describe('Metric name; default: the key itself'),
    unit: ucumUnit.optional(),
    type: z.enum(['number', 'boolean', 'string']).default('number'),
  })
  .strict();
export type FieldMappingT = z.infer<typeof FieldMapping>;

const common = {
  kind: z.literal('mqtt'),
  description: z.string().optional(),
  topics: z.array(z.string().min(1)).min(1).describe('Topic filters subscribed when the subscription names none'),
  units: z.record(z.string(), ucumUnit).default({}).describe('Device unit text → UCUM code (e.g. "°C": Cel); others pass through'),
  maxDevices: z.number().int().min(1).default(10_000).describe('Per-device state kept at most (least recently seen forgotten first)'),
};

export const SparkplugDriver = z
  .object({
    ...common,
    format: z.literal('sparkplug-b'),
    ignoreMetrics: z
      .array(z.string().min(1))
      .default([])
      .describe('Metric names not published as readings; a trailing * matches a prefix (e.g. "Node Control/*")'),
  })
  .strict();

export const Zigbee2MqttDriver = z
  .object({
    ...common,
    format: z.literal('zigbee2mqtt'),
    timestampKey: z.string().optional().describe('State key holding the device time (last_seen), ISO or epoch ms'),
    keys: z.record(z.string(), FieldMapping).describe('State key → reading; other keys are not published'),
    ignoreNames: z.array(z.string()).default(['bridge']).describe('First name levels that are not devices (bridge/…)'),
  })
  .strict();

export const TasmotaDriver = z
  .object({
    ...common,
    format: z.literal('tasmota'),
    timeZone: z.string().default('UTC').describe('IANA zone of the device clock (Time carries no zone); a subscription option overrides it'),
    temperatureFields: z.array(z.string()).default([]).describe('Sensor fields whose unit follows TempUnit (C → Cel, F → [degF])'),
    fields: z.record(z.string(), FieldMapping).describe('Sensor field (in any sensor object, e.g. AM2301.Humidity) → reading'),
    unknownFields: z
      .enum(['skip', 'unitless'])
      .default('unitless')
      .describe('Numeric sensor fields not in the table: skip them, or publish them with unit null'),
    state: z.record(z.string(), FieldMapping).default({}).describe('STATE message path (e.g. Wifi.RSSI) → reading'),
    phaseNames: z.array(z.string().min(1)).default(['L1', 'L2', 'L3']).describe('Suffixes of per-phase array values'),
  })
  .strict();

export const ShellyGen2Driver = z
  .object({
    ...common,
    format: z.literal('shelly-gen2'),
    components: z
      .record(z.string(), z.record(z.string(), FieldMapping))
      .describe('Component type (switch, temperature, …) → field path (apower, aenergy.total) → reading'),
  })
  .strict();

export const HomeAssistantDiscoveryDriver = z
  .object({
    ...common,
    format: z.literal('homeassistant-discovery'),
    components: z
      .record(z.string(), z.enum(['number', 'boolean', 'string']))
      .describe('Entity platforms mapped (sensor, binary_sensor) and the value type of their state'),
    abbreviations: z.record(z.string(), z.string()).describe('Abbreviated discovery keys → full keys'),
    deviceAbbreviations: z.record(z.string(), z.string()).default({}).describe('Abbreviated keys inside device/origin objects'),
    maxEntities: z.number().int().min(1).default(10_000),
  })
  .strict();

export const MqttDriver = z.discriminatedUnion('format', [
  SparkplugDriver,
  Zigbee2MqttDriver,
  TasmotaDriver,
  ShellyGen2Driver,
  HomeAssistantDiscoveryDriver,
]);

export type MqttDriverT = z.infer<typeof MqttDriver>;
export type SparkplugDriverT = z.infer<typeof SparkplugDriver>;
export type Zigbee2MqttDriverT = z.infer<typeof Zigbee2MqttDriver>;
export type TasmotaDriverT = z.infer<typeof TasmotaDriver>;
export type ShellyGen2DriverT = z.infer<typeof ShellyGen2Driver>;
export type HomeAssistantDiscoveryDriverT = z.infer<typeof HomeAssistantDiscoveryDriver>;
export type MqttFormat = MqttDriverT['format'];

/** Per-subscription options of driver subscriptions (validated in the subscription schema). */
export const FormatOptions = z
  .object({
    changedOnly: z
      .boolean()
      .optional()
      .describe('zigbee2mqtt: publish only values that changed since the device\'s last message (Zigbee2MQTT repeats the whole state)'),
    timeZone: z.string().optional().describe('tasmota: IANA zone of the device clock, e.g. Europe/Berlin (default: the driver\'s, UTC)'),
    maxDevices: z.number().int().min(1).optional().describe('Per-device state kept at most (default: the driver\'s)'),
  })
  .strict();
export type FormatOptionsT = z.infer<typeof FormatOptions>;

/** A driver file of the MQTT family: `kind` is checked first, so a Modbus or serial driver gets a clear message. */
export const MqttDriverFile = z
  .object({ kind: z.literal('mqtt', { error: 'expected kind: mqtt (this driver file belongs to another input family)' }) })
  .loose()
  .pipe(MqttDriver);

export function loadMqttDriver(ref: string, context: InputContext): LoadedDriver<MqttDriverT> {
  return loadDriverFile(ref, MqttDriverFile, context.driverSearchPaths, context.configDir);
}

