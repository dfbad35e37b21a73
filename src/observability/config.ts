/** Config of the observability HTTP listener (`http:`) and of the gateway-health heartbeat (`health:`). */
import { isIP } from 'node:net';
import { z } from 'zod';
import { Duration, SecretRef } from '../config/primitives.js';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice('::ffff:'.length));
  return false;
}

export const HttpConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Serve /metrics, /healthz, /readyz and the status page'),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address to listen on; anything but a loopback address (127.0.0.1, ::1, localhost) requires token'),
    port: z.number().int().min(0).max(65_535).default(9464).describe('TCP port (0: any free port, logged at start)'),
    token: SecretRef.optional().describe(
      'Bearer token required on every endpoint (Authorization: Bearer TOKEN, or HTTP Basic with the token as password for browsers)',
    ),
    maxDevices: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .describe('Most devices tracked with their own metric labels and status-page row; further devices are counted as device="_other"'),
  })
  .strict()
  .superRefine((http, ctx) => {
    if (http.enabled && http.token === undefined && !isLoopbackHost(http.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `required when host is not a loopback address (host is "${http.host}"): set token: { env: NAME } or listen on 127.0.0.1`,
      });
    }
  });

export const HealthConfig = z
  .object({
    interval: Duration.default(30_000).describe('How often a gateway-health event is sent (0: never)'),
  })
  .strict();

export type HttpConfigT = z.infer<typeof HttpConfig>;
export type HealthConfigT = z.infer<typeof HealthConfig>;

export const HTTP_DEFAULTS = { enabled: true, host: '127.0.0.1', port: 9464, maxDevices: 1000 } as const;
export const HEALTH_DEFAULTS = { interval: 30_000 } as const;
