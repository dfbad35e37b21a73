/**
 * The Modbus driver file format (devices/<name>.yaml with `kind: modbus`): one device model's register map as data.
 * Validated with this schema through src/drivers/driver-files.ts, so errors name the file, the path and the reason.
 */
import { z } from 'zod';
import { Duration, identifier } from '../../config/primitives.js';

export const REGISTER_TABLES = ['coil', 'discrete', 'holding', 'input'] as const;
export type RegisterTable = (typeof REGISTER_TABLES)[number];

export const DATA_TYPES = ['bool', 'bit', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type DataType = (typeof DATA_TYPES)[number];

/** Byte order of a multi-byte value as it travels: A is the most significant byte. CDAB = low word first. */
export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** Registers (16-bit words) a value of this type occupies; bit-table types occupy one bit. */
export function registerCount(type: DataType, length = 1): number {
  switch (type) {
    case 'bool':
    case 'bit':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length;
  }
}

export function isBitTable(table: RegisterTable): boolean {
  return table === 'coil' || table === 'discrete';
}

/** The 1-based "Modicon" reference notation, only when written as a string: "30002" = input 0x0001, "40001" = holding 0x0000. */
const REFERENCE = /^([0134])(\d{4,5})$/;
const TABLE_OF_PREFIX: Readonly<Record<string, RegisterTable>> = { '0': 'coil', '1': 'discrete', '3': 'input', '4': 'holding' };

/**
 * A register address: a number is the 0-based wire address; a string is hex ("0x0156") or, explicitly, the
 * reference notation ("30343" → input register 0x0156), which also names the table.
 */
export const RegisterAddress = z
  .union([z.number().int().min(0).max(0xffff), z.string()])
  .transform((value, ctx): { address: number; table?: RegisterTable } => {
    if (typeof value === 'number') return { address: value };
    const text = value.trim();
    if (/^0x[0-9a-f]{1,4}$/i.test(text)) return { address: Number.parseInt(text, 16) };
    const ref = REFERENCE.exec(text);
    if (ref) {
      const number = Number(ref[2]);
      if (number >= 1 && number <= 65_536) return { address: number - 1, table: TABLE_OF_PREFIX[ref[1] ?? ''] };
    }
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not an address: use a 0-based wire address (1, 0x0001) or the reference notation as a string ("30002" = input register 1, "40001" = holding register 0)`,
    });
    return z.NEVER;
  })
  .describe('0-based wire address (number or "0x…"), or the 1-based reference notation as a string ("30002", "40001")');

export const SimulationHint = z
  .object({
    base: z.number().default(0).describe('Typical value in engineering units'),
    amplitude: z.number().min(0).default(0).describe('Slow sine swing around base'),
    period: Duration.default(60_000).describe('Period of the swing'),
    ramp: z.number().default(0).describe('Increase per second (counters such as energy)'),
    noise: z.number().min(0).default(0).describe('Random jitter added to each value'),
  })
  .strict()
  .describe('How the simulator makes plausible, changing values for this register');

export const RegisterDef = z
  .object({
    metric: identifier.describe('Metric name in the reading event'),
    table: z.enum(REGISTER_TABLES).optional().describe('coil, discrete, holding or input; implied by a "3xxxx"/"4xxxx" address'),
    address: RegisterAddress,
    type: z.enum(DATA_TYPES).default('uint16'),
    bit: z.number().int().min(0).max(15).optional().describe('Bit of the register for type bit (0 = least significant)'),
    length: z.number().int().min(1).max(125).optional().describe('Registers of a string (2 characters each)'),
    byteOrder: z.enum(BYTE_ORDERS).optional().describe('Default: the driver byteOrder'),
    scale: z.number().default(1).describe('value = raw * scale + offset'),
    offset: z.number().default(0),
    unit: z.string().optional().describe('UCUM unit code, e.g. Cel, %, V, A, W, kW.h, Hz'),
    code: z.string().optional().describe('Device-specific code, e.g. an IEEE 11073 MDC reference id'),
    group: identifier.default('default').describe('Poll group (each group has its own interval)'),
    invalid: z.array(z.number()).default([]).describe('Raw values that mean "no value" (sentinels such as 0x7FFF): quality bad'),
    validRange: z
      .object({ min: z.number().optional(), max: z.number().optional() })
      .strict()
      .optional()
      .describe('Scaled values outside this range are reported with quality bad (sanity check)'),
    reportOnChange: z
      .object({
        deadband: z.number().min(0).default(0).describe('Report only when the value moved more than this'),
        maxInterval: Duration.optional().describe('Report at least this often even without change'),
      })
      .strict()
      .optional(),
    simulate: SimulationHint.optional(),
  })
  .strict();

export const ModbusDriverSchema = z
  .object({
    kind: z.literal('modbus'),
    model: z.string().min(1),
    manufacturer: z.string().optional(),
    description: z.string().optional(),
    byteOrder: z.enum(BYTE_ORDERS).default('ABCD').describe('Default byte/word order of multi-register values'),
    pollGroups: z
      .record(identifier, Duration)
      .default({})
      .describe('Interval per poll group; the group "default" falls back to the device pollInterval (10 s)'),
    maxGap: z
      .object({
        registers: z.number().int().min(0).max(124).default(0).describe('Unused registers one request may read to save a request'),
        bits: z.number().int().min(0).max(1999).default(0),
      })
      .strict()
      .default({ registers: 0, bits: 0 })
      .describe('Gap filling: only where the device answers reads of unmapped addresses'),
    maxRegistersPerRequest: z.number().int().min(1).max(125).default(125),
    maxBitsPerRequest: z.number().int().min(1).max(2000).default(2000),
    registers: z.array(RegisterDef).min(1),
  })
  .strict()
  .superRefine((driver, ctx) => {
    const metrics = new Map<string, number>();
    driver.registers.forEach((reg, i) => {
      const at = (...path: (string | number)[]): (string | number)[] => ['registers', i, ...path];
      const earlier = metrics.get(reg.metric);
      if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: at('metric'), message: `duplicate metric "${reg.metric}" (also registers[${earlier}])` });
      metrics.set(reg.metric, i);
      const table = reg.table ?? reg.address.table;
      if (table === undefined) {
        ctx.addIssue({ code: 'custom', path: at('table'), message: 'expected coil, discrete, holding or input (or a "3xxxx"/"4xxxx" address)' });
        return;
      }
      if (reg.table !== undefined && reg.address.table !== undefined && reg.table !== reg.address.table) {
        ctx.addIssue({ code: 'custom', path: at('address'), message: `reference notation names the ${reg.address.table} table but table is ${reg.table}` });
      }
      if (isBitTable(table) && reg.type !== 'bool') {
        ctx.addIssue({ code: 'custom', path: at('type'), message: `${table} values are single bits: expected type bool` });
      }
      if (reg.type === 'bit' && reg.bit === undefined) ctx.addIssue({ code: 'custom', path: at('bit'), message: 'type bit needs the bit number (0-15)' });
      if (reg.type !== 'bit' && reg.bit !== undefined) ctx.addIssue({ code: 'custom', path: at('bit'), message: 'bit is only for type bit' });
      if (reg.type === 'string' && reg.length === undefined) ctx.addIssue({ code: 'custom', path: at('length'), message: 'type string needs its length in registers' });
      if (reg.type !== 'string' && reg.length !== undefined) ctx.addIssue({ code: 'custom', path: at('length'), message: 'length is only for type string' });
      const count = registerCount(reg.type, reg.length);
      const limit = isBitTable(table) ? driver.maxBitsPerRequest : driver.maxRegistersPerRequest;
      if (count > limit) ctx.addIssue({ code: 'custom', path: at('length'), message: `a value of ${count} registers does not fit one request (at most ${limit})` });
      if (reg.address.address + count > 0x10000) ctx.addIssue({ code: 'custom', path: at('address'), message: 'the value runs past address 0xFFFF' });
      if (reg.group !== 'default' && driver.pollGroups[reg.group] === undefined) {
        ctx.addIssue({ code: 'custom', path: at('group'), message: `unknown poll group "${reg.group}" (declare it under pollGroups)` });
      }
    });
  });

export type ModbusDriver = z.output<typeof ModbusDriverSchema>;
export type RegisterDefT = z.output<typeof RegisterDef>;
export type SimulationHintT = z.output<typeof SimulationHint>;
