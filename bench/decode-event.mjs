#!/usr/bin/env node
// decodeEvent throughput: what a consumer pays per record for validation (value + CloudEvents headers + key).
//
//   npm run build && node bench/decode-event.mjs [--records 100000]
//
// Records are shaped like kafkajs messages (Buffer key, value and headers) of one reading each; no Kafka involved.
import { parseArgs } from 'node:util';
import { decodeEvent, encodeEvent, SCHEMA_VERSION } from '../dist/events/index.js';

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '100000' } } });
const N = Number(args.records);
const records = [];
for (let i = 0; i < N; i++) {
  const event = {
    schemaVersion: SCHEMA_VERSION,
    id: `0193a0b2-0000-7000-8000-${String(i).padStart(12, '0')}`,
    gatewayId: 'gw',
    deviceId: `dev-${i % 10}`,
    seq: i,
    sourceTime: null,
    receivedAt: '2026-11-27T09:30:00.000Z',
    type: 'reading',
    metric: 'spo2',
    value: 97,
    unit: '%',
    quality: 'good',
  };
  const r = encodeEvent(event, '/edge-telemetry-gateway/gw');
  records.push({ key: Buffer.from(r.key), value: Buffer.from(r.value), headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Buffer.from(v)])) });
}
for (let i = 0; i < Math.min(N, 5000); i++) decodeEvent(records[i]); // warm-up
const t0 = process.hrtime.bigint();
for (const r of records) decodeEvent(r);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`decodeEvent: ${N} reading records in ${ms.toFixed(0)} ms = ${Math.round(N / (ms / 1000))} records/s (${((ms * 1000) / N).toFixed(1)} µs each)`);
