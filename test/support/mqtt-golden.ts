/**
 * Golden cases of the MQTT format drivers: test/cases/mqtt/<format>/<name>/
 *   config.yaml   — one subscription entry, e.g. `{ driver: zigbee2mqtt, options: { changedOnly: true } }`
 *   input         — messages: a line `> <topic>` (the rest of the line, spaces kept), then the payload lines;
 *                   a payload line `hex: …` or `base64: …` gives bytes; no payload lines = empty payload;
 *                   lines starting with `#` are comments (headers naming the source of real payloads).
 *   expected.json — per message: topic, the event drafts, and the topics the driver asked to (un)subscribe.
 * Message i is received at 2026-11-27T10:00:00Z + i seconds.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { MqttSubscription } from '../../src/config/schema.js';
import type { EventDraft } from '../../src/events/schema.js';
import { compileRoutes, routeMessage } from '../../src/inputs/mqtt/router.js';

export const SHIPPED_DEVICES = resolve(import.meta.dirname, '../../devices');
export const GOLDEN_BASE_TIME = Date.parse('2026-11-27T10:00:00.000Z');

export interface GoldenMessage {
  topic: string;
  payload: Buffer;
}

export interface GoldenResult {
  topic: string;
  events: EventDraft[];
  subscribe?: string[];
  unsubscribe?: string[];
}

export function parseGoldenInput(text: string): GoldenMessage[] {
  const messages: { topic: string; lines: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith('> ')) {
      messages.push({ topic: line.slice(2), lines: [] });
      continue;
    }
    const current = messages[messages.length - 1];
    if (current === undefined) {
      if (line.trim() !== '') throw new Error(`input: payload line before the first "> topic" line: ${line}`);
      continue;
    }
    current.lines.push(line);
  }
  return messages.map(({ topic, lines }) => {
    while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
    const only = lines.length === 1 ? (lines[0] ?? '') : undefined;
    if (only?.startsWith('hex: ')) return { topic, payload: Buffer.from(only.slice(5).replace(/\s+/g, ''), 'hex') };
    if (only?.startsWith('base64: ')) return { topic, payload: Buffer.from(only.slice(8).trim(), 'base64') };
    return { topic, payload: Buffer.from(lines.join('\n'), 'utf8') };
  });
}

/** Runs a case directory through the same routing the MQTT input uses. */
export function runGoldenCase(dir: string): GoldenResult[] {
  const sub = MqttSubscription.parse(parse(readFileSync(join(dir, 'config.yaml'), 'utf8')));
  const routes = compileRoutes([sub], { configDir: dir, driverSearchPaths: [SHIPPED_DEVICES] });
  const messages = parseGoldenInput(readFileSync(join(dir, 'input'), 'utf8'));
  return messages.map(({ topic, payload }, i) => {
    const ctx = { inputName: 'golden', receivedAt: new Date(GOLDEN_BASE_TIME + i * 1000).toISOString(), maxPayloadBytes: 262_144, deadLetterBytes: 4096 };
    const routed = routeMessage(routes, topic, payload, ctx);
    return {
      topic,
      events: routed.drafts,
      ...(routed.subscribe.length > 0 ? { subscribe: routed.subscribe.map((s) => s.filter) } : {}),
      ...(routed.unsubscribe.length > 0 ? { unsubscribe: routed.unsubscribe } : {}),
    };
  });
}
