/**
 * The schema of serial driver files (devices/*.yaml with `kind: serial`): line settings, framing, field parsing
 * and alarm flags of one device model, all as data. The decoder (decoder.ts) and the simulator
 * (src/simulators/serial.ts) both work from a parsed driver; neither knows a device model by name.
 */
import { z } from 'zod';
import { isKnownTimeZone } from '../../util/time-zone.js';
import { identifier } from '../../config/primitives.js';

/** A byte written as a number (1, 0x01 in YAML) or a one-character string ('$'). */
const byteValue = z
  .union([z.number().int().min(0).max(255), z.string().length(1)])
  .transform((v) => (typeof v === 'number' ? v : v.charCodeAt(0)))
  .describe('A byte: a number 0-255 (YAML accepts 0x01) or a single character');

export const LineSettings = z
  .object({
    baudRate: z.number().int().positive().default(9600),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none'),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
    flowControl: z.enum(['none', 'rtscts', 'xonxoff']).default('none'),
  })
  .strict();
export type LineSettingsT = z.infer<typeof LineSettings>;

export const ChecksumSpec = z
  .object({
    type: z
      .enum(['nmea-xor', 'sum8', 'crc16-modbus', 'crc16-ccitt', 'crc16-x25'])
      .describe(
        'nmea-xor: XOR of the characters between $ and *, two hex digits after *; sum8: sum mod 256; crc16-modbus: ' +
          'poly 0x8005 reflected, init 0xFFFF, low byte first; crc16-ccitt: poly 0x1021, init 0xFFFF (CCITT-FALSE), high byte first; ' +
          'crc16-x25: the HDLC/PPP FCS, low byte first',
      ),
    from: z.number().int().default(0).describe('First byte covered (negative counts from the end); binary checksums only'),
    to: z.number().int().optional().describe('End of the covered bytes, exclusive (negative counts from the end); default: where the checksum is'),
    at: z.number().int().optional().describe('Where the checksum is (negative counts from the end); default -1 for sum8, -2 for CRC-16'),
  })
  .strict();
export type ChecksumSpecT = z.infer<typeof ChecksumSpec>;

/** A condition on one byte of a binary frame: (frame[byte] & mask) === equals. */
export const ByteTest = z
  .object({
    byte: z.number().int().min(0),
    mask: z.number().int().min(0).max(255).default(255),
    equals: z.number().int().min(0).max(255),
  })
  .strict();
export type ByteTestT = z.infer<typeof ByteTest>;

const LineFraming = z
  .object({
    type: z.literal('lines'),
    endings: z.enum(['any', 'crlf', 'lf', 'cr']).default('any').describe('any: CR, LF or CRLF, mixed in one stream'),
    start: z.string().min(1).optional().describe('Text every record starts with (e.g. $); bytes before it are skipped and dead-lettered'),
    maxLength: z.number().int().min(8).max(65_536).default(1024).describe('Longer lines are dead-lettered'),
    encoding: z.enum(['latin1', 'utf8', 'ascii']).default('latin1'),
  })
  .strict();

const FixedFraming = z
  .object({
    type: z.literal('fixed'),
    length: z.number().int().min(1).max(65_536),
    match: z.array(ByteTest).default([]).describe('Byte tests a frame must pass (start byte, fixed bits); resynchronizes on failure'),
  })
  .strict();

const LengthFieldFraming = z
  .object({
    type: z.literal('length-field'),
    start: z.array(byteValue).min(1).describe('Start bytes of every frame'),
    lengthAt: z.number().int().min(0).describe('Offset of the length field from the frame start'),
    lengthBytes: z.union([z.literal(1), z.literal(2)]).default(1),
    lengthEndian: z.enum(['big', 'little']).default('big'),
    lengthAdjust: z.number().int().default(0).describe('Frame length = length field + lengthAdjust (e.g. header and checksum bytes)'),
    maxLength: z.number().int().min(1).max(65_536).default(1024),
    match: z.array(ByteTest).default([]),
  })
  .strict();

const StartEndFraming = z
  .object({
    type: z.literal('start-end'),
    start: byteValue,
    end: byteValue,
    escape: byteValue.optional().describe('Escape byte (byte stuffing), e.g. 0x7D'),
    escapeXor: z.number().int().min(0).max(255).default(0x20).describe('An escaped byte is the next byte XOR this'),
    maxLength: z.number().int().min(1).max(65_536).default(4096),
  })
  .strict();

export const FramingSpec = z
  .discriminatedUnion('type', [LineFraming, FixedFraming, LengthFieldFraming, StartEndFraming])
  .describe('How the byte stream is cut into records');
export type FramingSpecT = z.infer<typeof FramingSpec>;

/** Several fixed frames that make one record (Nonin Data Format 2: 25 frames a packet, the first flagged). */
export const PacketSpec = z
  .object({
    frames: z.number().int().min(2).max(1024),
    first: ByteTest.describe('Test that marks the first frame of a packet'),
  })
  .strict();

/** Where a number sits in a binary record: parts OR-ed together, each ((byte & mask) << shift). */
export const BytePart = z
  .object({
    frame: z.number().int().min(0).default(0).describe('Frame of the packet (packets only)'),
    byte: z.number().int().min(0).describe('Byte offset inside the frame (or the record)'),
    mask: z.number().int().min(0).max(255).default(255),
    shift: z.number().int().min(0).max(24).default(0).describe('Left shift after masking'),
  })
  .strict();
export type BytePartT = z.infer<typeof BytePart>;

const transforms = z.enum(['none', 'nmea-coordinate']).describe('nmea-coordinate: (d)ddmm.mmmm plus a hemisphere field → signed degrees');

export const FieldSpec = z
  .object({
    metric: identifier.describe('Metric name in the reading event'),
    from: z.string().min(1).optional().describe('Text records: named group, key or column name'),
    parts: z.array(BytePart).min(1).optional().describe('Binary records: where the number is'),
    type: z.enum(['number', 'string', 'boolean']).default('number'),
    booleanWords: z
      .object({ true: z.array(z.string().min(1)).default([]), false: z.array(z.string().min(1)).default([]) })
      .strict()
      .optional()
      .describe('Boolean fields: words of this device besides the shared ones (true/false, on/off, …), e.g. NMEA status { true: [A], false: [V] }'),
    unit: z.string().optional().describe('UCUM unit code, e.g. %, /min, deg, m'),
    code: z.string().optional().describe('Device code, e.g. the IEEE 11073 MDC reference id'),
    strip: z.string().optional().describe('Characters removed from the text before conversion, e.g. "%" (leading zeros go by themselves)'),
    scale: z.number().default(1).describe('value = raw * scale + offset'),
    offset: z.number().default(0),
    decimals: z.number().int().min(0).max(12).optional().describe('Round the value to this many decimals'),
    sentinels: z
      .array(z.union([z.string(), z.number()]))
      .default([])
      .describe('Raw values meaning "no value" (---, --.-, 127, 511): the reading gets quality bad and value null'),
    emptyIsMissing: z.boolean().default(true).describe('An empty text field means "no value" (quality bad)'),
    transform: transforms.default('none'),
    hemisphere: z.string().optional().describe('nmea-coordinate: the field with N/S/E/W'),
    badWhen: z
      .object({ from: z.string().min(1), in: z.array(z.string()).min(1) })
      .strict()
      .optional()
      .describe('Another field whose value makes this reading bad (lost GPS fix: fix quality 0, RMC status V)'),
    optional: z.boolean().default(true).describe('A record without this field simply has no such reading (else the record is dead-lettered)'),
  })
  .strict();
export type FieldSpecT = z.infer<typeof FieldSpec>;

export const AlarmBit = z
  .object({
    mask: z.number().int().positive(),
    alarm: identifier.describe('Alarm name in the alarm event'),
    severity: z.enum(['low', 'medium', 'high']),
    message: z.string().min(1),
    metric: z.string().optional().describe('Metric whose value is attached to the alarm event'),
  })
  .strict();

export const AlarmFlags = z
  .object({
    from: z.string().min(1).optional().describe('Text records: the field holding the flags'),
    base: z.union([z.literal(16), z.literal(10), z.literal(2)]).default(16),
    parts: z.array(BytePart).min(1).optional().describe('Binary records: where the flags are'),
    anyFrame: z.boolean().default(false).describe('Packets: OR the flag byte of every frame'),
    bits: z.array(AlarmBit).min(1),
  })
  .strict();
export type AlarmFlagsT = z.infer<typeof AlarmFlags>;

export const TimestampSpec = z
  .object({
    from: z.array(z.string().min(1)).min(1).describe('Fields joined with a space, e.g. [date, time]'),
    format: z
      .string()
      .min(2)
      .describe('Tokens YYYY YY MM DD HH mm ss and .S (fraction); other characters literal; e.g. "MM/DD/YY HH:mm:ss", "HHmmss.S"'),
    zone: z.string().optional().describe('IANA zone of the device clock (NMEA is UTC); default: the input\'s timezone'),
  })
  .strict();
export type TimestampSpecT = z.infer<typeof TimestampSpec>;

export const RecordSpec = z
  .object({
    name: identifier.describe('Record type, e.g. GGA'),
    when: z.string().optional().describe('Text records: a regular expression the record must match to be this type'),
    parse: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('regex'), pattern: z.string().min(1).describe('Regular expression with named groups') }).strict(),
        z
          .object({
            type: z.literal('key-value'),
            pairSeparator: z.string().default(' ').describe('Between pairs; " " also accepts runs of whitespace'),
            keyValueSeparator: z.string().min(1).default('='),
            prefix: z.string().optional().describe('Regular expression with named groups for text before the first pair (e.g. the date)'),
          })
          .strict(),
        z
          .object({
            type: z.literal('csv'),
            separator: z.string().min(1).default(','),
            columns: z.array(z.string().nullable()).min(1).describe('Column names in order; null skips a column'),
            stripChecksum: z.boolean().default(false).describe('Drop a trailing *HH (NMEA) and the leading $ before splitting'),
          })
          .strict(),
        z.object({ type: z.literal('binary') }).strict(),
      ])
      .describe('How fields are read from the record'),
    timestamp: TimestampSpec.optional().describe('Device time; without it sourceTime is null'),
    fields: z.array(FieldSpec).min(1),
    alarms: z.array(AlarmFlags).default([]),
  })
  .strict();
export type RecordSpecT = z.infer<typeof RecordSpec>;

/** What the simulator sends; values are random walks unless a script sets them. */
export const SimulationSpec = z
  .object({
    recordsPerSecond: z.number().positive().max(1000).describe('The device\'s real cadence (records, or packets for packet drivers)'),
    values: z
      .record(
        z.string(),
        z.object({ start: z.number(), min: z.number(), max: z.number(), step: z.number().nonnegative().default(1), decimals: z.number().int().min(0).default(0) }).strict(),
      )
      .default({}),
    text: z
      .array(z.string())
      .optional()
      .describe('Text drivers: record templates sent in turn; {name} or {name:03} (zero-padded), {name:05.2} (width.decimals), {date:FORMAT}, then checksum and line end'),
    sentinelText: z.string().default('---').describe('What a text template shows for a value without a number'),
    lineEnding: z.enum(['crlf', 'lf', 'cr']).default('crlf'),
    frame: z.array(z.number().int().min(0).max(255)).optional().describe('Binary drivers: template of every frame before fields are written'),
    firstFrame: z
      .array(z.number().int().min(0).max(255))
      .optional()
      .describe('Binary packet drivers: template of the first frame of a packet'),
    fields: z
      .record(z.string(), z.string())
      .default({})
      .describe('Binary drivers: metric → the value (of values) written into that field; a metric not named here is written as 0'),
    sentinels: z.record(z.string(), z.number()).default({}).describe('Binary drivers: raw value written into a metric\'s field when its value has no number'),
  })
  .strict();
export type SimulationSpecT = z.infer<typeof SimulationSpec>;

export const SerialDriver = z
  .object({
    kind: z.literal('serial'),
    name: identifier,
    description: z.string().optional(),
    line: LineSettings.default(LineSettings.parse({})).describe('Line settings the device uses; the input config may override each'),
    framing: FramingSpec,
    checksum: ChecksumSpec.optional(),
    packet: PacketSpec.optional(),
    records: z.array(RecordSpec).min(1).describe('Record types, tried in order'),
    unmatched: z
      .enum(['ignore', 'dead-letter'])
      .default('dead-letter')
      .describe('A valid record (checksum passed) that no record type matches: ignore it (counted) or dead-letter it'),
    simulation: SimulationSpec.optional(),
  })
  .strict()
  .superRefine((driver, ctx) => {
    const binary = driver.framing.type !== 'lines';
    if (driver.packet && driver.framing.type !== 'fixed') {
      ctx.addIssue({ code: 'custom', path: ['packet'], message: 'packets are made of fixed frames: use framing.type fixed' });
    }
    if (driver.checksum?.type === 'nmea-xor' && binary) {
      ctx.addIssue({ code: 'custom', path: ['checksum', 'type'], message: 'nmea-xor applies to text lines: use framing.type lines' });
    }
    driver.records.forEach((record, i) => {
      const recordIsBinary = record.parse.type === 'binary';
      if (recordIsBinary !== binary) {
        ctx.addIssue({
          code: 'custom',
          path: ['records', i, 'parse', 'type'],
          message: binary ? 'binary framing needs parse.type binary' : 'line framing needs a text parse (regex, key-value or csv)',
        });
      }
      if (record.when !== undefined && regexProblem(record.when)) {
        ctx.addIssue({ code: 'custom', path: ['records', i, 'when'], message: `invalid regular expression: ${regexProblem(record.when)}` });
      }
      if (record.parse.type === 'regex') {
        const problem = regexProblem(record.parse.pattern);
        if (problem) ctx.addIssue({ code: 'custom', path: ['records', i, 'parse', 'pattern'], message: `invalid regular expression: ${problem}` });
      }
      if (record.parse.type === 'key-value' && record.parse.prefix !== undefined) {
        const problem = regexProblem(record.parse.prefix);
        if (problem) ctx.addIssue({ code: 'custom', path: ['records', i, 'parse', 'prefix'], message: `invalid regular expression: ${problem}` });
      }
      record.fields.forEach((field, j) => {
        if (recordIsBinary && field.parts === undefined) {
          ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'parts'], message: 'binary records need parts (where the number is)' });
        }
        if (!recordIsBinary && field.from === undefined) {
          ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'from'], message: 'text records need from (group, key or column)' });
        }
        if (field.transform === 'nmea-coordinate' && field.hemisphere === undefined) {
          ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'hemisphere'], message: 'nmea-coordinate needs the hemisphere field' });
        }
        if (recordIsBinary && field.type !== 'number') {
          ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'type'], message: 'binary fields are numbers' });
        }
        field.parts?.forEach((part, k) => {
          const frameLength = driver.framing.type === 'fixed' ? driver.framing.length : undefined;
          if (frameLength !== undefined && part.byte >= frameLength) {
            ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'parts', k, 'byte'], message: `past the end of the ${frameLength}-byte frame` });
          }
          if (driver.packet && part.frame >= driver.packet.frames) {
            ctx.addIssue({ code: 'custom', path: ['records', i, 'fields', j, 'parts', k, 'frame'], message: `a packet has frames 0..${driver.packet.frames - 1}` });
          }
        });
      });
      record.alarms.forEach((flags, j) => {
        if (recordIsBinary ? flags.parts === undefined : flags.from === undefined) {
          ctx.addIssue({ code: 'custom', path: ['records', i, 'alarms', j], message: recordIsBinary ? 'binary records need parts' : 'text records need from' });
        }
      });
      if (record.timestamp?.zone !== undefined && !isKnownTimeZone(record.timestamp.zone)) {
        ctx.addIssue({ code: 'custom', path: ['records', i, 'timestamp', 'zone'], message: `unknown time zone "${record.timestamp.zone}" (use an IANA name like Europe/Berlin or UTC)` });
      }
    });
  });
export type SerialDriverT = z.infer<typeof SerialDriver>;

function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
