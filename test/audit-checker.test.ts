// The audit checker as pure logic: holes, gap coverage, windows that start mid-stream, both kinds of
// duplicates, out-of-order first deliveries, replayed records.
import { describe, expect, it } from 'vitest';
import { AuditChecker, subtractRanges, type AuditRecord } from '../src/audit/checker.js';

let nextId = 0;
function event(deviceId: string, seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  nextId += 1;
  return { schemaVersion: 2, id: `id-${nextId}`, gatewayId: 'gw', deviceId, seq, type: 'reading', metric: 't', value: seq, unit: null, quality: 'good', sourceTime: null, receivedAt: '2026-11-27T09:00:00.000Z', ...extra };
}

function gap(deviceId: string, seq: number, fromSeq: number | undefined, toSeq: number | undefined, count: number): Record<string, unknown> {
  const range = fromSeq === undefined ? {} : { fromSeq, toSeq };
  return event(deviceId, seq, { type: 'gap', reason: 'buffer-full', count, fromTime: '2026-11-27T09:00:00.000Z', toTime: '2026-11-27T09:00:01.000Z', ...range });
}

function check(events: Record<string, unknown>[], partition = 0, headers?: Record<string, string>) {
  const checker = new AuditChecker();
  events.forEach((e, i) => checker.add(record(e, partition, i, headers)));
  return checker;
}

function record(e: Record<string, unknown> | string, partition: number, offset: number, headers?: Record<string, string>): AuditRecord {
  return { partition, offset: String(offset), value: typeof e === 'string' ? e : JSON.stringify(e), ...(headers ? { headers } : {}) };
}

const seqs = (device: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => event(device, from + i));

describe('AuditChecker', () => {
  it('accepts a complete stream', () => {
    const report = check(seqs('a', 0, 99)).report();
    expect(report.complete).toBe(true);
    expect(report.clean).toBe(true);
    expect(report.streams).toMatchObject([{ deviceId: 'a', family: 'readings', received: 100, firstSeq: 0, lastSeq: 99, missingCount: 0 }]);
  });

  it('finds holes between the first and last seq, per device and family', () => {
    const events = [...seqs('a', 0, 3), ...seqs('a', 7, 9), ...seqs('a', 12, 12), ...seqs('b', 0, 5)];
    events.push(event('a', 0, { type: 'alarm', alarm: 'x', state: 'active', severity: 'high', message: 'm' }));
    events.push(event('a', 2, { type: 'alarm', alarm: 'x', state: 'cleared', severity: 'high', message: 'm' }));
    const report = check(events).report();
    expect(report.complete).toBe(false);
    const a = report.streams.find((s) => s.deviceId === 'a' && s.family === 'readings');
    expect(a).toMatchObject({ missing: [{ from: 4, to: 6 }, { from: 10, to: 11 }], missingCount: 5 });
    expect(report.streams.find((s) => s.deviceId === 'a' && s.family === 'alarms')).toMatchObject({ missing: [{ from: 1, to: 1 }] });
    expect(report.streams.find((s) => s.deviceId === 'b')).toMatchObject({ missingCount: 0 });
    expect(report.totals.missing).toBe(6);
  });

  it('reads CloudEvents structured-mode records (the event in the envelope data) like binary ones', () => {
    const events = [...seqs('a', 0, 3), ...seqs('a', 6, 7)];
    const envelopes = events.map((e) => ({ specversion: '1.0', id: e.id, source: '/edge-telemetry-gateway/gw', type: 'io.edge-telemetry-gateway.reading.v1', data: e }));
    const structured = check(envelopes, 0, { 'content-type': 'application/cloudevents+json' }).report();
    expect(structured.streams).toEqual(check(events).report().streams);
    expect(structured.streams[0]).toMatchObject({ deviceId: 'a', received: 6, missing: [{ from: 4, to: 5 }] });
  });

  it('counts only holes after the first seen seq (a window that starts mid-stream)', () => {
    const report = check(seqs('a', 500, 520)).report();
    expect(report.complete).toBe(true);
    expect(report.streams[0]).toMatchObject({ firstSeq: 500, lastSeq: 520 });
  });

  it('accepts holes covered by gap events (which take a seq of the readings counter themselves)', () => {
    // seq 3..6 dropped; the gap event is seq 7 and declares 3..6; readings continue at 8.
    const events = [...seqs('a', 0, 2), gap('a', 7, 3, 6, 4), ...seqs('a', 8, 10)];
    const report = check(events).report();
    expect(report.complete).toBe(true);
    expect(report.streams[0]).toMatchObject({ missingCount: 0, declared: [{ from: 3, to: 6 }], declaredCount: 4, gapEvents: 1 });
  });

  it('flags the part of a hole a gap event does not cover, and gap events without a seq range', () => {
    const events = [...seqs('a', 0, 2), gap('a', 9, 3, 5, 3), gap('a', 10, undefined, undefined, 7), ...seqs('a', 11, 12)];
    const report = check(events).report();
    expect(report.complete).toBe(false);
    expect(report.streams[0]).toMatchObject({ missing: [{ from: 6, to: 8 }], declared: [{ from: 3, to: 5 }], declaredWithoutRange: 7 });
  });

  it('tells re-sends of an event id from distinct ids reusing a seq', () => {
    const events = seqs('a', 0, 4);
    const resent = events.slice(2, 5); // a batch sent again after a crash: same ids, seq goes back
    const reused = event('a', 4); // another id with seq 4
    const report = check([...events, ...resent, reused, ...seqs('a', 5, 6)]).report();
    expect(report.streams[0]).toMatchObject({ received: 11, duplicateIds: 3, seqConflicts: 1, outOfOrder: 0, missingCount: 0 });
    expect(report.complete).toBe(true);
    expect(report.clean).toBe(false);
  });

  it('flags records whose seq goes backwards within a partition, not across partitions', () => {
    const checker = new AuditChecker();
    const [e0, e1, e2, e3] = seqs('a', 0, 3) as Record<string, unknown>[];
    checker.add(record(e0 as Record<string, unknown>, 0, 0));
    checker.add(record(e2 as Record<string, unknown>, 0, 1));
    checker.add(record(e1 as Record<string, unknown>, 0, 2)); // backwards on partition 0
    checker.add(record(e3 as Record<string, unknown>, 0, 3));
    expect(checker.report().totals.outOfOrder).toBe(1);

    // A device moved to another partition (repartitioned topic): each partition is ordered on its own.
    const moved = new AuditChecker();
    const [m0, m1, m2] = seqs('b', 0, 2) as Record<string, unknown>[];
    moved.add(record(m2 as Record<string, unknown>, 1, 0));
    moved.add(record(m0 as Record<string, unknown>, 0, 0));
    moved.add(record(m1 as Record<string, unknown>, 0, 1));
    expect(moved.report().totals.outOfOrder).toBe(0);
  });

  it('counts replayed records and records that are not gateway events', () => {
    const checker = check(seqs('a', 0, 1));
    checker.add(record(seqs('a', 2, 2)[0] as Record<string, unknown>, 0, 2, { etg_replayed: '1' }));
    checker.add(record('not json', 0, 3));
    checker.add(record({ hello: 'world' }, 0, 4));
    const report = checker.report();
    expect(report.totals.replayed).toBe(1);
    expect(report.undecodable).toEqual({ count: 2, examples: ['partition 0 offset 3', 'partition 0 offset 4'] });
    expect(report.records).toBe(5);
  });

  it('subtracts covered ranges from a hole', () => {
    expect(subtractRanges(0, 10, [])).toEqual({ left: [{ from: 0, to: 10 }], covered: [] });
    expect(subtractRanges(0, 10, [{ from: 2, to: 3 }, { from: 8, to: 20 }])).toEqual({
      left: [{ from: 0, to: 1 }, { from: 4, to: 7 }],
      covered: [{ from: 2, to: 3 }, { from: 8, to: 10 }],
    });
    expect(subtractRanges(5, 6, [{ from: 0, to: 4 }, { from: 7, to: 9 }])).toEqual({ left: [{ from: 5, to: 6 }], covered: [] });
  });
});
