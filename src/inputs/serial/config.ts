/** Configuration of the serial input family (one `inputs[]` entry with `type: serial`: one device on one port). */
import { z } from 'zod';
import { Duration, identifier } from '../../config/primitives.js';
import { isKnownTimeZone } from '../../util/time-zone.js';

export const SerialInputConfig = z
  .object({
    type: z.literal('serial'),
    name: identifier.describe('Unique input name'),
    port: z
      .string()
      .min(1)
      .describe('Device path, e.g. /dev/ttyUSB0 or, stable across replugging, /dev/serial/by-id/usb-FTDI_..-if00-port0'),
    driver: z.string().min(1).describe('Driver name in devices/ (e.g. pulse-oximeter-ascii) or a path to a driver file'),
    deviceId: identifier.describe('Device id of every event from this port'),
    baudRate: z.number().int().positive().optional().describe("Overrides the driver's line settings"),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).optional(),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).optional(),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).optional(),
    flowControl: z.enum(['none', 'rtscts', 'xonxoff']).optional().describe('rtscts: hardware (RTS/CTS); xonxoff: software'),
    timezone: z
      .string()
      .default('UTC')
      .refine(isKnownTimeZone, 'unknown time zone: use an IANA name like Europe/Berlin or UTC')
      .describe('Zone of the device clock when the driver does not name one (devices print local time without a zone)'),
    reopen: z
      .object({
        initial: Duration.default(500).describe('First wait before reopening a port that is missing or failed'),
        max: Duration.default(2000).describe('Longest wait between attempts (a replugged device is read again within this)'),
      })
      .strict()
      .default({ initial: 500, max: 2000 }),
    silenceTimeout: Duration.default(0).describe('Report the device degraded after this long without bytes while the port is open; 0 = never'),
    maxFrameBytes: z
      .number()
      .int()
      .min(16)
      .max(1_048_576)
      .default(4096)
      .describe("Caps every record length the driver allows (lines, length-field and start/end frames); bounds the memory held per port"),
    deadLetterBytes: z.number().int().min(0).default(1024).describe('How much of an undecodable record the dead letter keeps'),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.reopen.max < input.reopen.initial) {
      ctx.addIssue({ code: 'custom', path: ['reopen', 'max'], message: `must be at least reopen.initial (${input.reopen.initial} ms)` });
    }
  });

export type SerialInputConfigT = z.infer<typeof SerialInputConfig>;
