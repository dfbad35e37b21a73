/** What every MQTT decoder (explicit metric mappings and the formats) needs to know about the message it decodes, and its dead letters. */
import type { EventDraft } from '../../events/schema.js';

export interface DecodeContext {
  inputName: string;
  receivedAt: string;
  maxPayloadBytes: number;
  deadLetterBytes: number;
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

