/**
 * A client of the few endpoints of the Confluent Schema Registry API the gateway uses (served as is by Confluent
 * Schema Registry, and by Apicurio Registry under /apis/ccompat/v7). Built on fetch: the whole client is five
 * requests, where @kafkajs/confluent-schema-registry would bring Avro, Protobuf and an HTTP framework along.
 */
import type { SchemaRegistryConfigT } from './config.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** Confluent error codes the gateway tells apart (the `error_code` of an error body). */
export const SUBJECT_NOT_FOUND = 40401;
export const SCHEMA_NOT_FOUND = 40403;

/** The registry answered with an HTTP error status. */
export class RegistryHttpError extends Error {
  readonly status: number;
  /** Confluent `error_code` (e.g. 40401, 409), when the body had one. */
  readonly errorCode: number | undefined;

  constructor(status: number, errorCode: number | undefined, message: string) {
    super(message);
    this.name = 'RegistryHttpError';
    this.status = status;
    this.errorCode = errorCode;
  }
}

/** The registry could not be reached (connection refused, DNS, TLS, timeout). */
export class RegistryUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryUnreachableError';
  }
}

export interface RegisteredSchema {
  subject: string;
  id: number;
  version: number;
}

export interface RegistryClientOptions {
  url: string;
  auth?: SchemaRegistryConfigT['auth'];
  requestTimeoutMs: number;
  /** The fetch to use (tests may pass a wrapped one); the global fetch by default. */
  fetch?: typeof fetch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class SchemaRegistryClient {
  readonly #options: RegistryClientOptions;

  constructor(options: RegistryClientOptions) {
    this.#options = options;
  }

  get url(): string {
    return this.#options.url;
  }

  /** The URL of a schema by id (the `ce_dataschema` of records written with it). */
  schemaUrl(id: number): string {
    return `${this.#options.url}/schemas/ids/${id}`;
  }

  /** The version of `schema` under `subject`, or undefined when the subject or that schema is not registered. */
  async lookup(subject: string, schema: string): Promise<RegisteredSchema | undefined> {
    try {
      const body = await this.#request('POST', `/subjects/${encodeURIComponent(subject)}`, { schema, schemaType: 'JSON' });
      return registered(body, subject);
    } catch (err) {
      if (err instanceof RegistryHttpError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Registers `schema` under `subject` (or finds it: registering the same schema again returns its id). */
  async register(subject: string, schema: string): Promise<{ id: number }> {
    const body = await this.#request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema, schemaType: 'JSON' });
    if (!isObject(body) || typeof body.id !== 'number') throw new Error(`unexpected answer of the registry to a registration: ${JSON.stringify(body)}`);
    return { id: body.id };
  }

  /** Whether `schema` is compatible with the latest version of `subject` under the subject's compatibility level. */
  async isCompatible(subject: string, schema: string): Promise<{ compatible: boolean; messages: string[] }> {
    const body = await this.#request('POST', `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`, {
      schema,
      schemaType: 'JSON',
    });
    if (!isObject(body) || typeof body.is_compatible !== 'boolean') {
      throw new Error(`unexpected answer of the registry to a compatibility check: ${JSON.stringify(body)}`);
    }
    const messages = Array.isArray(body.messages) ? body.messages.map(String) : [];
    return { compatible: body.is_compatible, messages };
  }

  /** Sets the compatibility level of one subject. */
  async setCompatibility(subject: string, level: string): Promise<void> {
    await this.#request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility: level });
  }

  /** The versions registered under a subject ([] when the subject does not exist). */
  async versions(subject: string): Promise<number[]> {
    try {
      const body = await this.#request('GET', `/subjects/${encodeURIComponent(subject)}/versions`);
      return Array.isArray(body) ? body.filter((v): v is number => typeof v === 'number') : [];
    } catch (err) {
      if (err instanceof RegistryHttpError && err.status === 404) return [];
      throw err;
    }
  }

  /** The schema text of an id. */
  async schemaById(id: number): Promise<string> {
    const body = await this.#request('GET', `/schemas/ids/${id}`);
    if (!isObject(body) || typeof body.schema !== 'string') throw new Error(`unexpected answer of the registry for schema ${id}: ${JSON.stringify(body)}`);
    return body.schema;
  }

  async #request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> {
    const { url, auth, requestTimeoutMs } = this.#options;
    const headers: Record<string, string> = { Accept: `${CONTENT_TYPE}, application/json` };
    if (body !== undefined) headers['Content-Type'] = CONTENT_TYPE;
    if (auth) headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password.reveal()}`).toString('base64')}`;
    const doFetch = this.#options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(`${url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (err) {
      throw new RegistryUnreachableError(`schema registry ${url} did not answer ${method} ${path.split('?')[0]}: ${describeFetchError(err, requestTimeoutMs)}`, {
        cause: err,
      });
    }
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const errorCode = isObject(parsed) && typeof parsed.error_code === 'number' ? parsed.error_code : undefined;
      const message = isObject(parsed) && typeof parsed.message === 'string' ? parsed.message : text.slice(0, 300) || response.statusText;
      throw new RegistryHttpError(response.status, errorCode, `schema registry answered ${response.status} to ${method} ${path.split('?')[0]}: ${message}`);
    }
    return parsed;
  }
}

function registered(body: unknown, subject: string): RegisteredSchema {
  if (!isObject(body) || typeof body.id !== 'number' || typeof body.version !== 'number') {
    throw new Error(`unexpected answer of the registry to a lookup of ${subject}: ${JSON.stringify(body)}`);
  }
  return { subject, id: body.id, version: body.version };
}

/** fetch failures hide the reason in `cause` (ECONNREFUSED, ENOTFOUND, certificate errors); timeouts are named. */
function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return `${cause.code}${typeof cause.message === 'string' ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
