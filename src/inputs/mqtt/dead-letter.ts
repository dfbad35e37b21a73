/** What every MQTT decoder (explicit metric mappings and the formats) needs to know about the message it decodes, its JSON parsing and its dead letters. */
import type { EventDraft } from '../../events/schema.js';

export interface DecodeContext {
  inputName: string;
  receivedAt: string;
  maxPayloadBytes: number;
  deadLetterBytes: number;
}

/**
 * A payload parsed as JSON, or the dead-letter reason. The reason is V8's message without the "(line 1 column 14)"
 * that Node 22+ appends to the position, so dead letters read the same on every supported Node.
 */
export function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; problem: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, problem: `invalid JSON: ${(err as Error).message.replace(/ \(line \d+ column \d+\)$/, '')}` };
  }
}

/** A dead-letter draft keeping the first `deadLetterBytes` of the raw payload. */
export function deadLetter(ctx: DecodeContext, deviceId: string, topic: string, payload: Buffer, reason: string): EventDraft {
  const kept = payload.subarray(0, ctx.deadLetterBytes);
  return {
    type: 'dead-letter',
    deviceId,
    sourceTime: null,
    receivedAt: ctx.receivedAt,
    input: ctx.inputName,
    source: topic,
    reason,
    payloadBase64: kept.toString('base64'),
    payloadBytes: payload.length,
    truncated: kept.length < payload.length,
  };
}

