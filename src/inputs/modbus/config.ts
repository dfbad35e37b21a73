/**
 * Configuration of the Modbus input family: one `inputs[]` entry with `type: modbus` is one bus (a TCP endpoint,
 * a serial port, or a serial device server); its devices (unit ids) share it and their requests are serialized.
 */
import { z } from 'zod';
import { Duration, identifier } from '../../config/primitives.js';
import { BYTE_ORDERS } from './driver.js';

const TcpTransport = z
  .object({
    kind: z.literal('tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535).default(502),
  })
  .strict()
  .describe('Modbus TCP (MBAP framing)');

const RtuTransport = z
  .object({
    kind: z.literal('rtu'),
    path: z.string().min(1).describe('Serial port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...'),
    baudRate: z.number().int().min(300).max(921_600).default(9600),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
  })
  .strict()
  .describe('Modbus RTU over a serial port (RS-485 dongle)');

const RtuOverTcpTransport = z
  .object({
    kind: z.literal('rtu-over-tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535),
  })
  .strict()
  .describe('RTU frames (with CRC) over a TCP socket: serial device servers in transparent mode');

export const ModbusTransport = z.discriminatedUnion('kind', [TcpTransport, RtuTransport, RtuOverTcpTransport]);

export const RegisterOverride = z
  .object({
    scale: z.number().optional(),
    offset: z.number().optional(),
    unit: z.string().optional(),
    byteOrder: z.enum(BYTE_ORDERS).optional(),
    group: identifier.optional(),
    deadband: z.number().min(0).optional().describe('Turns on report-on-change with this deadband'),
    enabled: z.boolean().optional().describe('false: do not read this metric'),
  })
  .strict();

export const ModbusDevice = z
  .object({
    id: identifier.describe('Device id of the events (Kafka key)'),
    driver: z.string().min(1).describe('Driver name in devices/ (e.g. xy-md02) or a path to a driver file'),
    unitId: z.number().int().min(0).max(255).default(1).describe('Modbus unit id (slave address)'),
    pollInterval: Duration.optional().describe('Interval of the poll group "default" (driver value, else 10 s)'),
    pollGroups: z.record(identifier, Duration).optional().describe('Interval per poll group, overriding the driver'),
    maxGap: z
      .object({ registers: z.number().int().min(0).max(124).optional(), bits: z.number().int().min(0).max(1999).optional() })
      .strict()
      .optional()
      .describe('Gap filling of the read planner, overriding the driver'),
    overrides: z.record(identifier, RegisterOverride).default({}).describe('Per metric: scale, offset, unit, byteOrder, group, deadband, enabled'),
  })
  .strict();

export const ModbusInputConfig = z
  .object({
    type: z.literal('modbus'),
    name: identifier.describe('Unique input name'),
    transport: ModbusTransport,
    timeout: Duration.default(1000).describe('Per request'),
    retries: z.number().int().min(0).max(5).default(1).describe('Extra attempts after a timeout (exceptions other than busy are not retried)'),
    retryOnBusy: z.boolean().default(true).describe('Retry after exception 6 (server busy)'),
    interRequestDelay: Duration.default(0).describe('Silence between requests on the bus (slow RS-485 devices)'),
    offlineAfter: z.number().int().min(1).max(1000).default(3).describe('Consecutive fully failed polls before a device is offline'),
    reconnect: z
      .object({ initial: Duration.default(1000), max: Duration.default(30_000) })
      .strict()
      .default({ initial: 1000, max: 30_000 }),
    devices: z.array(ModbusDevice).min(1),
  })
  .strict()
  .superRefine((input, ctx) => {
    const ids = new Map<string, number>();
    const units = new Map<number, number>();
    input.devices.forEach((device, i) => {
      const earlier = ids.get(device.id);
      if (earlier !== undefined) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `duplicate device id "${device.id}" (also devices[${earlier}])` });
      ids.set(device.id, i);
      const sameUnit = units.get(device.unitId);
      if (sameUnit !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'unitId'], message: `unit id ${device.unitId} is already used on this bus by devices[${sameUnit}]` });
      }
      units.set(device.unitId, i);
      if (input.transport.kind !== 'tcp' && (device.unitId < 1 || device.unitId > 247)) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'unitId'], message: 'RTU unit ids are 1-247 (0 is broadcast, which has no reply)' });
      }
    });
  });

export type ModbusInputConfigT = z.output<typeof ModbusInputConfig>;
export type ModbusDeviceT = z.output<typeof ModbusDevice>;
export type ModbusTransportT = z.output<typeof ModbusTransport>;
