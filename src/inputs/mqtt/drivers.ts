/**
 * MQTT driver files (devices/<name>.yaml with `kind: mqtt`): one per ecosystem format, holding the data of the
 * format (key → metric/unit tables, abbreviations, default topics) so the decoders in formats/ hold only logic.
 * The schema of each format's driver files lives with its decoder (formats/<format>.ts); this file joins them.
 */
import { z } from 'zod';
import { loadDriverFile, readDriverFile, type DriverRead, type LoadedDriver } from '../../drivers/driver-files.js';
import type { InputContext } from '../input.js';
import { MAX_DEVICES_OPTION } from './formats/format.js';
import { MQTT_FORMATS, MQTT_FORMAT_NAMES, type FormatOptionsT, type MqttDriverT } from './formats/registry.js';

export type { FieldMappingT } from './formats/format.js';
export type { FormatOptionsT, MqttDriverT, MqttFormatName } from './formats/registry.js';

// The formats' schemas as zod sees them; their precise types are MqttDriverT (the registry's, derived per format).
const driverSchemas = Object.values(MQTT_FORMATS).map((f) => f.driver) as unknown as [z.ZodObject<{ kind: z.ZodLiteral<'mqtt'> }>, ...z.ZodObject<{ kind: z.ZodLiteral<'mqtt'> }>[]];

const driverUnion = z.discriminatedUnion('format', driverSchemas, {
  error: (issue) => (issue.code === 'invalid_union' ? `expected format to be one of ${MQTT_FORMAT_NAMES.join(', ')}` : undefined),
});

/** A driver file of any format, by its `format` (one schema per format in formats/). */
export const MqttDriver = driverUnion as unknown as z.ZodType<MqttDriverT>;

/** Per-subscription options of driver subscriptions: every format's (format.options), checked per format after. */
export const FormatOptions = z
  .object({
    ...Object.assign({}, ...Object.values(MQTT_FORMATS).map((f) => f.options)),
    maxDevices: MAX_DEVICES_OPTION,
  })
  .strict() as unknown as z.ZodType<FormatOptionsT>;

/** A driver file of the MQTT family: `kind` is checked first, so a Modbus or serial driver gets a clear message. */
export const MqttDriverFile = z
  .object({ kind: z.literal('mqtt', { error: 'expected kind: mqtt (this driver file belongs to another input family)' }) })
  .loose()
  .pipe(driverUnion) as unknown as z.ZodType<MqttDriverT>;

export function loadMqttDriver(ref: string, context: InputContext): LoadedDriver<MqttDriverT> {
  return loadDriverFile(ref, MqttDriverFile, context.driverSearchPaths, context.configDir);
}

/** The same for config checks: every problem as a ConfigProblem (at file:line:column) instead of an exception. */
export function readMqttDriver(ref: string, context: InputContext): DriverRead<MqttDriverT> {
  return readDriverFile(ref, MqttDriverFile, context.driverSearchPaths, context.configDir, 'mqtt');
}
