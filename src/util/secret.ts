import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { GatewayError, errorMessage } from '../errors.js';

export type SecretSource = { env: string } | { file: string } | { credential: string };

/**
 * A secret (password, token) named by the config: an environment variable, a file, or a systemd credential.
 * It prints as `[redacted]` through every path a value leaks by — String(), JSON.stringify, util.inspect (pino,
 * console) — and only `reveal()` returns the value. Read on demand so a rotated file is picked up on reload.
 */
export class Secret {
  readonly source: SecretSource;
  readonly #env: NodeJS.ProcessEnv;

  constructor(source: SecretSource, env: NodeJS.ProcessEnv = process.env) {
    this.source = source;
    this.#env = env;
  }

  /** Where the value comes from, e.g. `env:MQTT_PASSWORD`; safe to print. */
  get origin(): string {
    if ('env' in this.source) return `env:${this.source.env}`;
    if ('file' in this.source) return `file:${this.source.file}`;
    return `credential:${this.source.credential}`;
  }

  /** The value; throws an Error that names the origin (never the value) when it is unavailable. */
  reveal(): string {
    if ('env' in this.source) {
      const value = this.#env[this.source.env];
      if (value === undefined || value === '') throw new Error(`environment variable ${this.source.env} is not set`);
      return value;
    }
    const path =
      'file' in this.source ? this.source.file : join(this.#credentialsDirectory(), this.source.credential);
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new Error(`secret file ${path} cannot be read (${reason})`, { cause: err });
    }
  }

  /**
   * The value, for the config key `where` (e.g. `kafka.sasl.password`): when it is unavailable, GW_SECRET_MISSING
   * naming that key and the origin, the one refusal every reader of a secret gives.
   */
  revealFor(where: string): string {
    try {
      return this.reveal();
    } catch (err) {
      throw new GatewayError('GW_SECRET_MISSING', `${where} (${this.origin}): ${errorMessage(err)}`, { cause: err });
    }
  }

  #credentialsDirectory(): string {
    const dir = this.#env.CREDENTIALS_DIRECTORY;
    if (!dir) throw new Error('CREDENTIALS_DIRECTORY is not set (credentials come from systemd LoadCredential=)');
    return dir;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return `[redacted ${this.origin}]`;
  }

  [inspect.custom](): string {
    return `Secret(${this.origin})`;
  }
}
