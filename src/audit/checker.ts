/**
 * The consumer-side audit of a topic, as pure logic: feed it records in the order one partition delivers them
 * (partitions may interleave) and it reports, per gateway and device, what arrived and what is wrong.
 *
 * Every event carries `seq`, counted per device AND per event family by the gateway that produced it (gap events
 * share the readings counter). So within one (gateway, device, family) stream:
 * - missing: seq values between the first and the last one seen that never arrived. A window that does not start
 *   at the beginning of the topic (audit --since) may begin at any seq, so only holes after the first seen seq
 *   count. Holes covered by a gap event's fromSeq..toSeq are declared (the gateway said so); the rest is
 *   undeclared loss.
 * - duplicates: a record whose event id was seen before (a re-send after a crash or a replay: harmless), and
 *   distinct event ids carrying the same seq (a counter that went backwards: a bug worth knowing).
 * - out of order: a record seen for the first time whose seq is lower than one already seen for the same stream
 *   on the same partition. Re-sends of known ids are not counted: at-least-once delivery repeats a batch after a
 *   crash, and the order of first deliveries is what consumers rely on.
 */
import { EVENT_TYPES, FAMILY_OF_TYPE, type EventFamily, type EventType } from '../events/schema.js';

export interface AuditRecord {
  partition: number;
  offset: string;
  value: string | null;
  headers?: Record<string, string>;
}

export interface SeqRange {
  from: number;
  to: number;
}

export interface StreamReport {
  gatewayId: string;
  deviceId: string;
  family: EventFamily;
  received: number;
  firstSeq: number;
  lastSeq: number;
  /** Holes not covered by any gap event: data lost without a word. */
  missing: SeqRange[];
  missingCount: number;
  /** Holes covered by gap events (fromSeq..toSeq). */
  declared: SeqRange[];
  declaredCount: number;
  gapEvents: number;
  /** Events declared missing by gap events without a seq range (cannot be matched to holes). */
  declaredWithoutRange: number;
  /** Records repeating an event id already seen. */
  duplicateIds: number;
  /** Distinct event ids carrying a seq already used by another id. */
  seqConflicts: number;
  outOfOrder: number;
  /** Records carrying the `etg_replayed: "1"` header. */
  replayed: number;
}

export interface AuditReport {
  records: number;
  undecodable: { count: number; examples: string[] };
  streams: StreamReport[];
  totals: {
    received: number;
    missing: number;
    declared: number;
    duplicateIds: number;
    seqConflicts: number;
    outOfOrder: number;
    replayed: number;
  };
  /** True when nothing is missing undeclared. */
  complete: boolean;
  /** True when complete and nothing is out of order and no seq was reused by another id. */
  clean: boolean;
}

interface Stream {
  gatewayId: string;
  deviceId: string;
  family: EventFamily;
  received: number;
  /** seq -> the first event id seen with it. */
  seqs: Map<number, string>;
  ids: Set<string>;
  gapRanges: SeqRange[];
  gapEvents: number;
  declaredWithoutRange: number;
  duplicateIds: number;
  seqConflicts: number;
  outOfOrder: number;
  replayed: number;
  /** Highest seq of a first delivery, per partition. */
  maxSeqByPartition: Map<number, number>;
}

interface Decoded {
  id: string;
  gatewayId: string;
  deviceId: string;
  seq: number;
  type: EventType;
  fromSeq?: number;
  toSeq?: number;
  count?: number;
}

function decode(value: string | null): Decoded | undefined {
  if (value === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  let e = parsed as Record<string, unknown>;
  // CloudEvents structured mode: the event is the envelope's data.
  if (!('schemaVersion' in e) && 'specversion' in e && typeof e.data === 'object' && e.data !== null) e = e.data as Record<string, unknown>;
  if (typeof e.id !== 'string' || typeof e.deviceId !== 'string' || typeof e.gatewayId !== 'string') return undefined;
  if (typeof e.seq !== 'number' || !Number.isInteger(e.seq) || e.seq < 0) return undefined;
  if (typeof e.type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(e.type)) return undefined;
  const decoded: Decoded = { id: e.id, gatewayId: e.gatewayId, deviceId: e.deviceId, seq: e.seq, type: e.type as EventType };
  if (typeof e.fromSeq === 'number') decoded.fromSeq = e.fromSeq;
  if (typeof e.toSeq === 'number') decoded.toSeq = e.toSeq;
  if (typeof e.count === 'number') decoded.count = e.count;
  return decoded;
}

/** Removes the parts of [from, to] covered by `cover` (sorted, merged); returns what is left and what was covered. */
export function subtractRanges(from: number, to: number, cover: readonly SeqRange[]): { left: SeqRange[]; covered: SeqRange[] } {
  const left: SeqRange[] = [];
  const covered: SeqRange[] = [];
  let cursor = from;
  for (const c of cover) {
    if (c.to < cursor) continue;
    if (c.from > to) break;
    if (c.from > cursor) left.push({ from: cursor, to: c.from - 1 });
    const start = Math.max(cursor, c.from);
    const end = Math.min(to, c.to);
    covered.push({ from: start, to: end });
    cursor = end + 1;
    if (cursor > to) break;
  }
  if (cursor <= to) left.push({ from: cursor, to });
  return { left, covered };
}

function mergeRanges(ranges: readonly SeqRange[]): SeqRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const merged: SeqRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else merged.push({ ...r });
  }
  return merged;
}

const count = (ranges: readonly SeqRange[]): number => ranges.reduce((sum, r) => sum + r.to - r.from + 1, 0);

export class AuditChecker {
  readonly #streams = new Map<string, Stream>();
  #records = 0;
  #undecodable = 0;
  readonly #undecodableExamples: string[] = [];

  add(record: AuditRecord): void {
    this.#records += 1;
    const e = decode(record.value);
    if (!e) {
      this.#undecodable += 1;
      if (this.#undecodableExamples.length < 5) this.#undecodableExamples.push(`partition ${record.partition} offset ${record.offset}`);
      return;
    }
    const family = FAMILY_OF_TYPE[e.type];
    const key = `${e.gatewayId}\u0000${e.deviceId}\u0000${family}`;
    let s = this.#streams.get(key);
    if (!s) {
      s = {
        gatewayId: e.gatewayId,
        deviceId: e.deviceId,
        family,
        received: 0,
        seqs: new Map(),
        ids: new Set(),
        gapRanges: [],
        gapEvents: 0,
        declaredWithoutRange: 0,
        duplicateIds: 0,
        seqConflicts: 0,
        outOfOrder: 0,
        replayed: 0,
        maxSeqByPartition: new Map(),
      };
      this.#streams.set(key, s);
    }
    s.received += 1;
    if (record.headers?.etg_replayed === '1') s.replayed += 1;
    if (s.ids.has(e.id)) {
      s.duplicateIds += 1;
      return;
    }
    s.ids.add(e.id);
    const holder = s.seqs.get(e.seq);
    if (holder === undefined) s.seqs.set(e.seq, e.id);
    else s.seqConflicts += 1;
    const max = s.maxSeqByPartition.get(record.partition);
    if (max !== undefined && e.seq < max) s.outOfOrder += 1;
    else s.maxSeqByPartition.set(record.partition, e.seq);
    if (e.type === 'gap') {
      s.gapEvents += 1;
      if (e.fromSeq !== undefined && e.toSeq !== undefined && e.toSeq >= e.fromSeq) s.gapRanges.push({ from: e.fromSeq, to: e.toSeq });
      else s.declaredWithoutRange += e.count ?? 0;
    }
  }

  report(): AuditReport {
    const streams: StreamReport[] = [];
    for (const s of this.#streams.values()) {
      const seqs = [...s.seqs.keys()].sort((a, b) => a - b);
      const holes: SeqRange[] = [];
      for (let i = 1; i < seqs.length; i++) {
        const prev = seqs[i - 1] as number;
        const cur = seqs[i] as number;
        if (cur > prev + 1) holes.push({ from: prev + 1, to: cur - 1 });
      }
      const cover = mergeRanges(s.gapRanges);
      const missing: SeqRange[] = [];
      const declared: SeqRange[] = [];
      for (const hole of holes) {
        const { left, covered } = subtractRanges(hole.from, hole.to, cover);
        missing.push(...left);
        declared.push(...covered);
      }
      streams.push({
        gatewayId: s.gatewayId,
        deviceId: s.deviceId,
        family: s.family,
        received: s.received,
        firstSeq: seqs[0] ?? 0,
        lastSeq: seqs[seqs.length - 1] ?? 0,
        missing,
        missingCount: count(missing),
        declared,
        declaredCount: count(declared),
        gapEvents: s.gapEvents,
        declaredWithoutRange: s.declaredWithoutRange,
        duplicateIds: s.duplicateIds,
        seqConflicts: s.seqConflicts,
        outOfOrder: s.outOfOrder,
        replayed: s.replayed,
      });
    }
    streams.sort((a, b) => a.gatewayId.localeCompare(b.gatewayId) || a.deviceId.localeCompare(b.deviceId) || a.family.localeCompare(b.family));
    const sum = (f: (r: StreamReport) => number): number => streams.reduce((acc, r) => acc + f(r), 0);
    const totals = {
      received: sum((r) => r.received),
      missing: sum((r) => r.missingCount),
      declared: sum((r) => r.declaredCount),
      duplicateIds: sum((r) => r.duplicateIds),
      seqConflicts: sum((r) => r.seqConflicts),
      outOfOrder: sum((r) => r.outOfOrder),
      replayed: sum((r) => r.replayed),
    };
    const complete = totals.missing === 0;
    return {
      records: this.#records,
      undecodable: { count: this.#undecodable, examples: [...this.#undecodableExamples] },
      streams,
      totals,
      complete,
      clean: complete && totals.outOfOrder === 0 && totals.seqConflicts === 0,
    };
  }
}
