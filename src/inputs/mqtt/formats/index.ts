/** The format decoders by driver `format`. */
import type { FormatOptionsT, MqttDriverT } from '../drivers.js';
import type { FormatDecoder } from './common.js';
import { HomeAssistantDiscoveryDecoder } from './homeassistant-discovery.js';
import { ShellyGen2Decoder } from './shelly-gen2.js';
import { SparkplugBDecoder } from './sparkplug-b.js';
import { TasmotaDecoder } from './tasmota.js';
import { Zigbee2MqttDecoder } from './zigbee2mqtt.js';

export type { FormatDecoder, FormatMessage, FormatResult } from './common.js';

export function createDecoder(driver: MqttDriverT, options: FormatOptionsT = {}): FormatDecoder {
  switch (driver.format) {
    case 'sparkplug-b':
      return new SparkplugBDecoder(driver, options);
    case 'zigbee2mqtt':
      return new Zigbee2MqttDecoder(driver, options);
    case 'tasmota':
      return new TasmotaDecoder(driver, options);
    case 'shelly-gen2':
      return new ShellyGen2Decoder(driver, options);
    case 'homeassistant-discovery':
      return new HomeAssistantDiscoveryDecoder(driver, options);
  }
}
