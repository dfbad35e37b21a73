/**
 * Registering (or finding) the family schemas under their subjects, and checking them without registering.
 * A schema the registry refuses as incompatible under the subject's compatibility level is GW_SCHEMA_INCOMPATIBLE;
 * a registry that cannot be reached or answers with another error is GW_SCHEMA_REGISTRY.
 */
import { GatewayError, errorMessage } from '../errors.js';
import type { CompatibilityLevel } from './config.js';
import { RegistryHttpError, RegistryUnreachableError, type SchemaRegistryClient } from './client.js';
import type { FamilySubject } from './subjects.js';

export interface SubjectRegistration extends FamilySubject {
  id: number;
  /** found: this exact schema was registered already; registered: it is a new version now. */
  outcome: 'found' | 'registered';
}

export type SubjectCheck =
  | (FamilySubject & { state: 'registered'; id: number; version: number })
  | (FamilySubject & { state: 'compatible' | 'new' })
  | (FamilySubject & { state: 'incompatible'; reason: string });

function incompatible(subjects: readonly { subject: string; reason: string }[], compatibility: string, url: string): GatewayError {
  const names = subjects.map((s) => s.subject).join(', ');
  return new GatewayError(
    'GW_SCHEMA_INCOMPATIBLE',
    `schema registry ${url} refuses the event schema of ${names} as incompatible under ${compatibility}`,
    {
      details: [
        ...subjects.map((s) => `${s.subject}: ${s.reason}`),
        'see the difference with: telemetry-gateway schemas check -c CONFIG, and the schema with: telemetry-gateway schemas print',
        'if the change is intended, register it under a new subject (kafka.topics) or lower kafka.schemaRegistry.compatibility deliberately; events stay buffered meanwhile',
      ],
    },
  );
}

/** Registry failures other than incompatibility, as GW_SCHEMA_REGISTRY with what to check. */
export function registryFailure(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const hint =
    err instanceof RegistryUnreachableError
      ? 'check kafka.schemaRegistry.url and that the registry runs; events stay buffered and delivery resumes once it answers'
      : err instanceof RegistryHttpError && (err.status === 401 || err.status === 403)
        ? 'check kafka.schemaRegistry.auth (user name, password source) and that the user may register schemas and set subject config'
        : 'check that kafka.schemaRegistry.url is the Confluent-compatible API (Apicurio: /apis/ccompat/v7)';
  return new GatewayError('GW_SCHEMA_REGISTRY', errorMessage(err), { details: [hint], cause: err });
}

/**
 * Sets each subject's compatibility level and registers its schema (an exact match already registered is found,
 * not registered twice). Throws GW_SCHEMA_INCOMPATIBLE when the registry refuses any schema, GW_SCHEMA_REGISTRY
 * when it cannot be asked.
 */
export async function registerSubjects(
  client: SchemaRegistryClient,
  subjects: readonly FamilySubject[],
  compatibility: CompatibilityLevel,
): Promise<SubjectRegistration[]> {
  const done: SubjectRegistration[] = [];
  const refused: { subject: string; reason: string }[] = [];
  try {
    // First every subject is checked, so a refused one leaves the registry without new versions of the others.
    const toRegister: FamilySubject[] = [];
    for (const s of subjects) {
      // The level is set before the check, so the check (and the registration) run under it.
      await client.setCompatibility(s.subject, compatibility);
      const existing = await client.lookup(s.subject, s.schema);
      if (existing) {
        done.push({ ...s, id: existing.id, outcome: 'found' });
        continue;
      }
      if ((await client.versions(s.subject)).length > 0) {
        const { compatible, messages } = await client.isCompatible(s.subject, s.schema);
        if (!compatible) {
          refused.push({ subject: s.subject, reason: messages.length > 0 ? messages.join('; ') : `refused under ${compatibility}` });
          continue;
        }
      }
      toRegister.push(s);
    }
    if (refused.length > 0) throw incompatible(refused, compatibility, client.url);
    for (const s of toRegister) {
      try {
        const { id } = await client.register(s.subject, s.schema);
        done.push({ ...s, id, outcome: 'registered' });
      } catch (err) {
        // Another producer registered a version in between: the registry's own refusal, with its reason.
        if (err instanceof RegistryHttpError && (err.status === 409 || err.errorCode === 409)) refused.push({ subject: s.subject, reason: err.message });
        else throw err;
      }
    }
  } catch (err) {
    throw registryFailure(err);
  }
  if (refused.length > 0) throw incompatible(refused, compatibility, client.url);
  const order = new Map(subjects.map((s, i) => [s.subject, i]));
  return done.sort((a, b) => (order.get(a.subject) ?? 0) - (order.get(b.subject) ?? 0));
}

/** What registering would do, per subject, without changing the registry. */
export async function checkSubjects(client: SchemaRegistryClient, subjects: readonly FamilySubject[]): Promise<SubjectCheck[]> {
  const out: SubjectCheck[] = [];
  try {
    for (const s of subjects) {
      const existing = await client.lookup(s.subject, s.schema);
      if (existing) {
        out.push({ ...s, state: 'registered', id: existing.id, version: existing.version });
        continue;
      }
      if ((await client.versions(s.subject)).length === 0) {
        out.push({ ...s, state: 'new' });
        continue;
      }
      const { compatible, messages } = await client.isCompatible(s.subject, s.schema);
      out.push(
        compatible
          ? { ...s, state: 'compatible' }
          : { ...s, state: 'incompatible', reason: messages.length > 0 ? messages.join('; ') : 'refused under the subject\'s compatibility level' },
      );
    }
  } catch (err) {
    throw registryFailure(err);
  }
  return out;
}
