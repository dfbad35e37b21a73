/**
 * HL7 driver files (devices/<name>.yaml with `kind: hl7`): the data of a device family's HL7 export — which
 * message types it sends, the observation codes and what to call them, the unit table (IEEE 11073 MDC units →
 * UCUM), what OBX-11 result status means for quality, and the alarm vocabulary — so the mapping code holds only
 * logic. A hospital adds a vendor's private codes (Philips MDIL, Mindray MNDRY_…) by writing such a file.
 */
import { z } from 'zod';
import { loadDriverFile, type LoadedDriver } from '../../drivers/driver-files.js';
import type { InputContext } from '../input.js';

const Quality = z.enum(['good', 'uncertain', 'bad', 'skip']);

export const CodeMapping = z
  .object({
    code: z.union([z.string().min(1), z.number().int().nonnegative()]).optional().describe('OBX-3.1 identifier, e.g. 150456 (MDC 32-bit code)'),
    refid: z.string().min(1).optional().describe('OBX-3.2 text / reference id, e.g. MDC_PULS_OXIM_SAT_O2 (matched when OBX-3.1 is not)'),
    hierarchy: z
      .string()
      .regex(/^[0-9*]+(\.[0-9*]+)*$/, 'expected OBX-4 levels like 1.20.1.1, * matching any level, e.g. 1.20.*')
      .optional()
      .describe('Only observations whose OBX-4 matches (disambiguates the same code from two channels)'),
    metric: z.string().min(1).describe('Metric name in the reading'),
    type: z
      .enum(['number', 'string'])
      .default('number')
      .describe('number: NM values; string: ST, TX, CWE, CE, CNE values (coded values give their text, else their code)'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.code === undefined && m.refid === undefined) ctx.addIssue({ code: 'custom', path: ['code'], message: 'give code, refid or both' });
  });
export type CodeMappingT = z.infer<typeof CodeMapping>;

export const Hl7Driver = z
  .object({
    kind: z.literal('hl7'),
    name: z.string().min(1),
    description: z.string().optional(),
    versions: z
      .array(z.string().regex(/^2(\.\d+)*$/))
      .min(1)
      .default(['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8'])
      .describe('Accepted MSH-12 versions; others are refused (AR / CR)'),
    messages: z
      .record(z.string().regex(/^[A-Z0-9]{3}\^[A-Z0-9]{3}$/, 'expected a message type and trigger like ORU^R01'), z.enum(['observations', 'alarms']))
      .describe('Handled message types (MSH-9.1^MSH-9.2) and what they carry: observations (PCD-01) or alarms (PCD-04)'),
    observations: z
      .object({
        codes: z.array(CodeMapping).default([]).describe('Observation codes with their metric names; first match wins'),
        unknownCodes: z
          .enum(['reading', 'ignore'])
          .default('reading')
          .describe('A numeric OBX whose code is not listed: reading (metric = its reference id, else its code) or ignore (counted)'),
        resultStatus: z
          .record(z.string().regex(/^[A-Z]$/), Quality)
          .default({})
          .describe('OBX-11 result status → quality (good, uncertain, bad: value null) or skip (no reading)'),
        missingStatus: Quality.default('uncertain').describe('Quality when OBX-11 is empty'),
      })
      .strict()
      .default({ codes: [], unknownCodes: 'reading', resultStatus: {}, missingStatus: 'uncertain' }),
    units: z
      .record(z.string().min(1), z.string().min(1))
      .default({})
      .describe('OBX-6 unit (MDC code like 262688 or reference id like MDC_DIM_PERCENT) → UCUM code; OBX-6 in UCUM passes as is'),
    alarms: z
      .object({
        priorities: z
          .record(z.string().min(1), z.enum(['low', 'medium', 'high']))
          .default({ PH: 'high', PM: 'medium', PL: 'low', PN: 'low' })
          .describe('OBX-8 alarm priority → severity'),
        defaultSeverity: z.enum(['low', 'medium', 'high']).default('medium'),
        events: z
          .record(z.string().min(1), z.string().min(1))
          .default({})
          .describe('Event code (reference id or code) → alarm name suffix, e.g. MDC_EVT_LO: low gives spo2-low for a SpO2 source'),
      })
      .strict()
      .default({ priorities: { PH: 'high', PM: 'medium', PL: 'low', PN: 'low' }, defaultSeverity: 'medium', events: {} }),
    simulation: z
      .object({
        intervalMs: z.number().int().min(10).default(5000).describe('A monitor sends one message this often'),
        observations: z
          .array(
            z
              .object({
                code: z.number().int(),
                refid: z.string().min(1),
                unit: z.string().min(1).describe('OBX-6 as the monitor writes it, e.g. 262688^MDC_DIM_PERCENT^MDC'),
                hierarchy: z.string().min(1),
                start: z.number(),
                min: z.number(),
                max: z.number(),
                step: z.number().nonnegative().default(1),
                decimals: z.number().int().min(0).max(6).default(0),
              })
              .strict(),
          )
          .min(1),
      })
      .strict()
      .optional()
      .describe('What `telemetry-gateway simulate --driver NAME` sends'),
  })
  .strict();

export type Hl7DriverT = z.infer<typeof Hl7Driver>;

export function loadHl7Driver(ref: string, context: InputContext): LoadedDriver<Hl7DriverT> {
  return loadDriverFile(ref, Hl7Driver, context.driverSearchPaths, context.configDir);
}
