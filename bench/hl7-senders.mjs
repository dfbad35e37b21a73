#!/usr/bin/env node
// Load generator of bench/hl7-ack.mjs, in its own process: N simulated monitors (the HL7 simulator, MLLP clients)
// each sending M PCD-01 messages back to back, every one after the previous ACK. Prints one JSON line: messages
// acknowledged, wall time, messages/s, ACK latency p50/p99/max (ms, first send → ACK).
//
//   node bench/hl7-senders.mjs --port P [--host 127.0.0.1] [--connections 1] [--messages 2000]
import { parseArgs } from 'node:util';
import { startHl7Simulator } from '../dist/simulators/hl7.js';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    connections: { type: 'string', default: '1' },
    messages: { type: 'string', default: '2000' },
    'config-dir': { type: 'string', default: process.cwd() },
  },
});
const connections = Number(args.connections);
const messages = Number(args.messages);
const t0 = performance.now();
const sims = await Promise.all(
  Array.from({ length: connections }, (_, i) =>
    startHl7Simulator({ port: Number(args.port), host: args.host, configDir: args['config-dir'], deviceId: `bench-monitor-${i}`, intervalMs: 0, count: messages, ackTimeoutMs: 60_000, seed: i + 1 }),
  ),
);
await Promise.all(sims.map((s) => s.done));
const elapsedMs = performance.now() - t0;
const latencies = sims.flatMap((s) => [...s.acked.values()]).sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
await Promise.all(sims.map((s) => s.stop()));
process.stdout.write(
  `${JSON.stringify({
    connections,
    acked: latencies.length,
    rejected: sims.reduce((n, s) => n + s.rejected.size, 0),
    resends: sims.reduce((n, s) => n + s.resends, 0),
    elapsedMs: Math.round(elapsedMs),
    perSecond: Math.round((latencies.length / elapsedMs) * 1000),
    p50: Number(at(0.5).toFixed(2)),
    p99: Number(at(0.99).toFixed(2)),
    max: Number((latencies.at(-1) ?? 0).toFixed(2)),
  })}\n`,
);
process.exit(0);
