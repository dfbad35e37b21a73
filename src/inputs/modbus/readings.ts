/**
 * Pure mapping of one read request's response to reading drafts: slices each value's registers out of the
 * response, decodes, applies sentinels, scale/offset and the sanity range. A failed request gives its metrics
 * `quality: bad` with no value. Report-on-change filtering is a small stateful helper here as well.
 */
import type { EventDraft, Quality, ReadingValue } from '../../events/schema.js';
import { applyScale, decodeWords, rawNumber } from './decode.js';
import type { ReadRequest, ResolvedRegister } from './planner.js';

export interface ReadingContext {
  deviceId: string;
  receivedAt: string;
  /** `source` of the readings, e.g. `modbus bus1 unit 3 FC04 0x0001+2`. */
  source: string;
}

type ReadingDraft = Extract<EventDraft, { type: 'reading' }>;

function reading(reg: ResolvedRegister, ctx: ReadingContext, value: ReadingValue, quality: Quality): ReadingDraft {
  return {
    type: 'reading',
    deviceId: ctx.deviceId,
    sourceTime: null,
    receivedAt: ctx.receivedAt,
    metric: reg.metric,
    value,
    unit: reg.unit,
    quality,
    ...(reg.code === undefined ? {} : { code: reg.code }),
    source: ctx.source,
  };
}

/** Decodes one value from the whole response of its request. */
export function decodeRegister(reg: ResolvedRegister, request: ReadRequest, data: readonly (number | boolean)[]): { value: ReadingValue; quality: Quality } {
  const at = reg.address - request.start;
  if (reg.table === 'coil' || reg.table === 'discrete') {
    const bit = data[at];
    return bit === undefined ? { value: null, quality: 'bad' } : { value: Boolean(bit), quality: 'good' };
  }
  const words = data.slice(at, at + reg.count).map(Number);
  if (words.length < reg.count) return { value: null, quality: 'bad' };
  const raw = decodeWords(words, reg.type, reg.byteOrder, reg.bit);
  if (typeof raw === 'boolean' || typeof raw === 'string') return { value: raw, quality: 'good' };
  const number = rawNumber(raw) ?? Number.NaN;
  if (reg.invalid.includes(number) || !Number.isFinite(number)) return { value: null, quality: 'bad' };
  const value = applyScale(number, reg.scale, reg.offset);
  const range = reg.validRange;
  if (range && ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max))) return { value: null, quality: 'bad' };
  return { value, quality: 'good' };
}

export function readingsFromResponse(request: ReadRequest, data: readonly (number | boolean)[], ctx: ReadingContext): ReadingDraft[] {
  return request.registers.map((reg) => {
    const { value, quality } = decodeRegister(reg, request, data);
    return reading(reg, ctx, value, quality);
  });
}

export function badReadings(request: ReadRequest, ctx: ReadingContext): ReadingDraft[] {
  return request.registers.map((reg) => reading(reg, ctx, null, 'bad'));
}

/**
 * Report-on-change: a value is reported when it is the first, when its quality changed, when it moved more than
 * the deadband since the last reported value, or when maxInterval passed since the last report.
 */
export class ChangeFilter {
  readonly #last = new Map<string, { value: ReadingValue; quality: Quality; at: number }>();

  shouldReport(key: string, reg: ResolvedRegister, value: ReadingValue, quality: Quality, now: number): boolean {
    const policy = reg.reportOnChange;
    if (policy === undefined) return true;
    const last = this.#last.get(key);
    let report = last === undefined || last.quality !== quality;
    if (!report && last !== undefined) {
      if (policy.maxInterval !== undefined && now - last.at >= policy.maxInterval) report = true;
      else if (typeof value === 'number' && typeof last.value === 'number') report = Math.abs(value - last.value) > policy.deadband;
      else report = value !== last.value;
    }
    if (report) this.#last.set(key, { value, quality, at: now });
    return report;
  }
}
