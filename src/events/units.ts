/**
 * UCUM unit codes (the `unit` of readings) shown the way people write and say them: `Cel` → `°C`, "degree
 * Celsius". Used wherever a person reads values (`tail`, the status page). Codes not listed are shown as they are:
 * a UCUM code is already readable for most units (`V`, `Hz`, `lx`).
 */

export interface UnitDisplay {
  /** How the unit is written next to a value ('' for dimensionless). */
  symbol: string;
  /** The unit's name, for a tooltip or a legend; null when unknown. */
  name: string | null;
}

/** The units the shipped drivers and MQTT formats use, plus the common ones of medical devices. */
const UNITS: Readonly<Record<string, readonly [symbol: string, name: string]>> = {
  '1': ['', 'dimensionless'],
  '%': ['%', 'percent'],
  Cel: ['°C', 'degree Celsius'],
  '[degF]': ['°F', 'degree Fahrenheit'],
  K: ['K', 'kelvin'],
  deg: ['°', 'degree (angle)'],
  '/min': ['/min', 'per minute'],
  '{beats}/min': ['/min', 'beats per minute'],
  '{breaths}/min': ['/min', 'breaths per minute'],
  'mm[Hg]': ['mmHg', 'millimetre of mercury'],
  'cm[H2O]': ['cmH₂O', 'centimetre of water'],
  Pa: ['Pa', 'pascal'],
  hPa: ['hPa', 'hectopascal'],
  kPa: ['kPa', 'kilopascal'],
  bar: ['bar', 'bar'],
  V: ['V', 'volt'],
  mV: ['mV', 'millivolt'],
  A: ['A', 'ampere'],
  mA: ['mA', 'milliampere'],
  W: ['W', 'watt'],
  kW: ['kW', 'kilowatt'],
  'W.h': ['Wh', 'watt-hour'],
  'kW.h': ['kWh', 'kilowatt-hour'],
  'V.A': ['VA', 'volt-ampere'],
  'kV.A': ['kVA', 'kilovolt-ampere'],
  'V.A{reactive}': ['var', 'volt-ampere reactive'],
  'kV.A{reactive}': ['kvar', 'kilovolt-ampere reactive'],
  'kV.A{reactive}.h': ['kvarh', 'kilovolt-ampere reactive hour'],
  Hz: ['Hz', 'hertz'],
  lx: ['lx', 'lux'],
  '[ppm]': ['ppm', 'parts per million'],
  '[ppb]': ['ppb', 'parts per billion'],
  'ug/m3': ['µg/m³', 'microgram per cubic metre'],
  'mg/m3': ['mg/m³', 'milligram per cubic metre'],
  'm3/h': ['m³/h', 'cubic metre per hour'],
  'L/min': ['L/min', 'litre per minute'],
  'm/s': ['m/s', 'metre per second'],
  'km/h': ['km/h', 'kilometre per hour'],
  m: ['m', 'metre'],
  cm: ['cm', 'centimetre'],
  mm: ['mm', 'millimetre'],
  s: ['s', 'second'],
  ms: ['ms', 'millisecond'],
  min: ['min', 'minute'],
  h: ['h', 'hour'],
  'dB[mW]': ['dBm', 'decibel-milliwatt'],
  dB: ['dB', 'decibel'],
  '{count}': ['', 'count'],
  '{LQI}': ['LQI', 'link quality indicator'],
};

export function unitDisplay(unit: string | null | undefined): UnitDisplay {
  if (unit === null || unit === undefined) return { symbol: '', name: null };
  const known = UNITS[unit];
  return known ? { symbol: known[0], name: known[1] } : { symbol: unit, name: null };
}

/** The unit as written next to a value ('' for none or dimensionless). */
export function displayUnit(unit: string | null | undefined): string {
  return unitDisplay(unit).symbol;
}
