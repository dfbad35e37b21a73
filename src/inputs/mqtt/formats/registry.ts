/**
 * The MQTT formats, one line each. A format is one file in this folder exporting an MqttFormat (format.ts); the
 * key here must be its name (the compiler checks it), and from this list come the driver-file union, the
 * subscription options and their checks, config validation, the golden tests' list and the simulator.
 * Adding a format: src/inputs/mqtt/README.md.
 */
import type { CommonDriver, FormatDecoder, FormatSubscription, MqttFormat } from './format.js';
import { homeAssistantDiscoveryFormat } from './homeassistant-discovery.js';
import { shellyGen2Format } from './shelly-gen2.js';
import { sparkplugBFormat } from './sparkplug-b.js';
import { tasmotaFormat } from './tasmota.js';
import { zigbee2mqttFormat } from './zigbee2mqtt.js';

/** Any format, as the registry holds them side by side (MqttFormat's methods are checked bivariantly). */
type AnyFormat = MqttFormat<CommonDriver, object>;

function formatRegistry<const T extends { readonly [K in keyof T]: AnyFormat & { readonly name: K } }>(formats: T): T {
  return formats;
}

export const MQTT_FORMATS = formatRegistry({
  'sparkplug-b': sparkplugBFormat,
  zigbee2mqtt: zigbee2mqttFormat,
  tasmota: tasmotaFormat,
  'shelly-gen2': shellyGen2Format,
  'homeassistant-discovery': homeAssistantDiscoveryFormat,
});

type Formats = typeof MQTT_FORMATS;
export type MqttFormatName = keyof Formats;
type DriverOf<F> = F extends MqttFormat<infer D, object> ? D : never;
type OptionsOf<F> = F extends MqttFormat<CommonDriver, infer O> ? O : never;
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** A parsed driver file of any format (discriminated by `format`). */
export type MqttDriverT = { [K in MqttFormatName]: DriverOf<Formats[K]> }[MqttFormatName];
/** The options of every format together, as the subscription schema accepts them (which format takes which is checked after). */
export type FormatOptionsT = Partial<UnionToIntersection<OptionsOf<Formats[MqttFormatName]>>> & { maxDevices?: number | undefined };

export const MQTT_FORMAT_NAMES = Object.keys(MQTT_FORMATS) as MqttFormatName[];

export function isMqttFormatName(name: string): name is MqttFormatName {
  return Object.prototype.hasOwnProperty.call(MQTT_FORMATS, name);
}

/** The format of a parsed driver; typed loosely on purpose: its own schema parsed the driver, so they belong together. */
export function formatOf(driver: MqttDriverT): MqttFormat<MqttDriverT, FormatOptionsT> {
  return MQTT_FORMATS[driver.format] as unknown as MqttFormat<MqttDriverT, FormatOptionsT>;
}

export function createDecoder(driver: MqttDriverT, options: FormatSubscription<FormatOptionsT>['options'] = {}): FormatDecoder {
  return formatOf(driver).create(driver, options);
}
