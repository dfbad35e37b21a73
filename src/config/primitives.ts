/** Building blocks shared by the gateway config and every input family's config (no imports of the config itself). */
import { z } from 'zod';
import { expecting } from './messages.js';
import { parseDuration } from '../util/duration.js';
import { Secret } from '../util/secret.js';

/** A duration as `500ms`, `5s`, `2m`, `24h`, `7d` or a number of milliseconds; parsed to milliseconds. */
export const Duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, expecting('expected a duration like 500ms, 5s, 2m, 24h'))])
  .transform((v) => parseDuration(v) ?? 0)
  .describe('Duration: a number of milliseconds or a string like 500ms, 5s, 2m, 24h, 7d');

export const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, expecting('expected letters, digits, and . _ : - (at most 128 characters, starting with a letter or digit)'));

/** A secret is never written in the config itself: it names where to read it from. */
export const SecretRef = z
  .union([
    z.object({ env: z.string().min(1).describe('Name of an environment variable holding the secret') }).strict(),
    z.object({ file: z.string().min(1).describe('Path of a file holding the secret (trailing newline removed)') }).strict(),
    z
      .object({ credential: z.string().min(1).describe('Name of a systemd credential (LoadCredential=), read from $CREDENTIALS_DIRECTORY') })
      .strict(),
  ])
  .transform((source) => new Secret(source))
  .describe('Where to read a secret from: {env: NAME}, {file: PATH} or {credential: NAME}');

