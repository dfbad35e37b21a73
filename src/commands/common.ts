import { GatewayError, errorMessage } from '../errors.js';

/** Prints an error with its stable code and exits non-zero (64 for usage errors, 1 otherwise). */
export function fail(err: unknown): never {
  if (err instanceof GatewayError) process.stderr.write(`${err.format()}\n`);
  else process.stderr.write(`error: ${errorMessage(err)}\n`);
  process.exit(err instanceof GatewayError && err.code === 'GW_USAGE' ? 64 : 1);
}
