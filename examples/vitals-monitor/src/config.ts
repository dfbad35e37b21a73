/**
 * The monitor's configuration (vitals-monitor.yaml) and its rules (rules.yaml), validated with zod once at start.
 * Errors name the file and the path, like the gateway's own config errors.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `10s`, `5m`, `2h`, `7d` → milliseconds. */
export const Duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'expected a duration like 500ms, 10s, 5m')
  .transform((text) => {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text) as RegExpExecArray;
    return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000));
  });

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

const ruleCommon = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes').describe('Becomes the alarm name'),
  severity: z.enum(['low', 'medium', 'high']).default('high'),
  message: z.string().min(1),
  devices: z.array(z.string().min(1)).optional().describe('Only these device ids; all devices when omitted'),
};

/** A vital sign out of bounds, continuously for `for` (event time of the readings). */
export const ThresholdRule = z
  .object({
    ...ruleCommon,
    metric: oneOrMany.describe('Metric name(s) the rule watches, e.g. spo2 or [pulse-rate, heart-rate]'),
    below: z.number().optional(),
    above: z.number().optional(),
    outside: z.tuple([z.number(), z.number()]).optional().describe('[low, high]: fires below low or above high'),
    for: Duration.default(0).describe('How long the condition must hold before the alarm is raised'),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const conditions = [rule.below, rule.above, rule.outside].filter((c) => c !== undefined).length;
    if (conditions !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of below, above, outside' });
    if (rule.outside && rule.outside[0] >= rule.outside[1]) ctx.addIssue({ code: 'custom', path: ['outside'], message: 'low must be below high' });
  });

/** No reading from a device (of the metric, when given) for `silentFor` (wall clock of the monitor). */
export const SilenceRule = z
  .object({
    ...ruleCommon,
    metric: oneOrMany.optional(),
    silentFor: Duration,
  })
  .strict();

export const Rule = z.union([SilenceRule, ThresholdRule]);
export type RuleT = z.infer<typeof Rule>;
export type ThresholdRuleT = z.infer<typeof ThresholdRule>;
export type SilenceRuleT = z.infer<typeof SilenceRule>;

export const RulesFile = z
  .object({ rules: z.array(Rule).min(1) })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name ${rule.name}` });
      seen.add(rule.name);
    });
  });

export const MonitorConfig = z
  .object({
    monitorId: z.string().min(1).describe('Names this monitor in its alarm events (gatewayId) and CloudEvents source'),
    kafka: z
      .object({
        brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1),
        clientId: z.string().min(1).default('vitals-monitor'),
        groupId: z.string().min(1).default('vitals-monitor'),
        readings: oneOrMany.default(['telemetry.readings']).describe('Topic(s) with the gateway readings'),
        alerts: z.string().min(1).default('telemetry.alerts').describe('Topic the alarm events go to'),
      })
      .strict(),
    state: z.string().min(1).default('vitals-monitor.db').describe('SQLite file with processed ids, rule state and the alert outbox'),
    rules: z.string().min(1).default('rules.yaml').describe('Rules file, relative to this config'),
    maxAge: Duration.default(600_000).describe('Readings older than this (by receivedAt) are too late to alarm on and are skipped; processed ids are kept this long'),
    silenceCheckInterval: Duration.default(1000),
  })
  .strict();

export interface LoadedConfig {
  config: z.infer<typeof MonitorConfig>;
  rules: RuleT[];
  statePath: string;
}

function validate<T extends z.ZodType>(schema: T, file: string): z.infer<T> {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${i.path.join('.') || '(file)'}: ${i.message}`);
    throw new Error(`${file} is not valid:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** Loads the config and its rules file; relative paths resolve against the config's folder. */
export function loadConfig(file: string): LoadedConfig {
  const config = validate(MonitorConfig, file);
  const dir = dirname(resolve(file));
  const rules = validate(RulesFile, resolve(dir, config.rules)).rules;
  return { config, rules, statePath: resolve(dir, config.state) };
}
