// Decode throughput of the MQTT format drivers (decoding only: no broker, no buffer): the golden inputs of each
// format (test/cases/mqtt/<format>/*/input) routed ROUNDS times through fresh routes, as the MQTT input does.
// Run after `npm run build`: node bench/mqtt-formats.mjs
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { compileRoutes, routeMessage } from '../dist/inputs/mqtt/router.js';
import { MqttSubscription } from '../dist/config/schema.js';

const ROOT = resolve(import.meta.dirname, '..');
const CASES = join(ROOT, 'test/cases/mqtt');
const ROUNDS = Number(process.env.ROUNDS ?? 2000);

/** Same format as test/support/mqtt-golden.ts. */
function parseInput(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith('> ')) out.push({ topic: line.slice(2), lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out.map(({ topic, lines }) => {
    while (lines.length > 0 && lines.at(-1).trim() === '') lines.pop();
    const one = lines.length === 1 ? lines[0] : undefined;
    if (one?.startsWith('hex: ')) return { topic, payload: Buffer.from(one.slice(5), 'hex') };
    if (one?.startsWith('base64: ')) return { topic, payload: Buffer.from(one.slice(8), 'base64') };
    return { topic, payload: Buffer.from(lines.join('\n')) };
  });
}

const ctx = { inputName: 'bench', receivedAt: '2026-11-27T10:00:00.000Z', maxPayloadBytes: 262_144, deadLetterBytes: 4096 };
for (const format of readdirSync(CASES).sort()) {
  const cases = readdirSync(join(CASES, format)).map((name) => {
    const dir = join(CASES, format, name);
    return { dir, sub: MqttSubscription.parse(parse(readFileSync(join(dir, 'config.yaml'), 'utf8'))), input: parseInput(readFileSync(join(dir, 'input'), 'utf8')) };
  });
  let messages = 0;
  let drafts = 0;
  let ns = 0n;
  for (let round = 0; round < ROUNDS; round++) {
    for (const { dir, sub, input } of cases) {
      const routes = compileRoutes([sub], { configDir: dir, driverSearchPaths: [join(ROOT, 'devices')] });
      const start = process.hrtime.bigint();
      for (const { topic, payload } of input) drafts += routeMessage(routes, topic, payload, ctx).drafts.length;
      ns += process.hrtime.bigint() - start;
      messages += input.length;
    }
  }
  const seconds = Number(ns) / 1e9;
  console.log(`${format.padEnd(24)} ${String(messages).padStart(7)} messages ${String(Math.round(messages / seconds)).padStart(8)} msg/s ${String(Math.round(drafts / seconds)).padStart(9)} events/s`);
}
