/**
 * Device ids come from places an attacker may control (MQTT topic levels, payload fields, serial frames). They end
 * up as Kafka record keys, log fields, metric labels and status-page rows, so one function makes them safe:
 * no control or invisible formatting characters (log injection, spoofed look-alike ids), no surrounding
 * whitespace, and a bounded length. Routing never depends on them: the Kafka topic is chosen by event family.
 */
import { createHash } from 'node:crypto';

/** Longest device id kept as is (UTF-16 code units). */
export const MAX_DEVICE_ID_LENGTH = 200;

// C0 and C1 controls, DEL, and invisible formatting characters: zero-width, bidi embeddings/overrides/isolates,
// line/paragraph separators, BOM. Each becomes '_' so two ids that differ only there stay different.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
// A lone surrogate (half of a broken pair) cannot be encoded as UTF-8; it becomes U+FFFD.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A safe device id: trimmed, unsafe characters replaced by '_', and when longer than MAX_DEVICE_ID_LENGTH cut
 * and suffixed with `~` and 12 hex digits of a SHA-256 of the whole id (distinct long ids stay distinct).
 * Pure and idempotent; the empty string stays empty (the caller decides what an empty id means).
 */
export function sanitizeDeviceId(raw: string): string {
  // Trim first: a tab or newline at either end is padding, not part of the id.
  const cleaned = raw.trim().replace(LONE_SURROGATE, '\ufffd').replace(UNSAFE, '_');
  if (cleaned.length <= MAX_DEVICE_ID_LENGTH) return cleaned;
  const digest = createHash('sha256').update(cleaned).digest('hex').slice(0, 12);
  let head = cleaned.slice(0, MAX_DEVICE_ID_LENGTH - 13);
  // Do not cut a surrogate pair in half.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return `${head.trimEnd()}~${digest}`;
}
