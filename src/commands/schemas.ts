import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { TopicsConfig, type GatewayConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { EVENT_FAMILIES, type EventFamily } from '../events/schema.js';
import { SchemaRegistryClient } from '../registry/client.js';
import { checkSubjects, registerSubjects } from '../registry/compatibility.js';
import { SchemaRegistryConfig, type SchemaRegistryConfigT } from '../registry/config.js';
import { CONNECT_ROW_SCHEMA } from '../registry/connect-record.js';
import { familyJsonSchema, familySubjects, type FamilySubject } from '../registry/subjects.js';

interface SchemasOptions {
  config?: string;
  registry?: string;
  json?: boolean;
}

/** The registry of a command: the config's kafka.schemaRegistry, with --registry replacing its url. */
function registryOf(options: SchemasOptions, config: GatewayConfig | undefined): SchemaRegistryConfigT {
  const configured = config?.kafka.schemaRegistry;
  if (options.registry === undefined) {
    if (configured) return configured;
    throw new GatewayError('GW_USAGE', 'no schema registry: give --registry URL, or --config FILE with kafka.schemaRegistry');
  }
  const parsed = SchemaRegistryConfig.safeParse({ ...(configured ?? {}), url: options.registry });
  if (!parsed.success) throw new GatewayError('GW_USAGE', `--registry "${options.registry}": ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function subjectsOf(config: GatewayConfig | undefined, registry: Pick<SchemaRegistryConfigT, 'subjectStrategy'> | undefined): FamilySubject[] {
  return familySubjects(config?.kafka.topics ?? TopicsConfig.parse({}), registry?.subjectStrategy ?? config?.kafka.schemaRegistry?.subjectStrategy ?? 'topic-name');
}

function clientOf(registry: SchemaRegistryConfigT): SchemaRegistryClient {
  return new SchemaRegistryClient({ url: registry.url, auth: registry.auth, requestTimeoutMs: registry.requestTimeout });
}

function loaded(options: SchemasOptions): GatewayConfig | undefined {
  return options.config === undefined ? undefined : loadConfig(options.config).config;
}

function print(options: SchemasOptions & { family?: string; connect?: boolean }): void {
  if (options.connect) {
    process.stdout.write(`${JSON.stringify(CONNECT_ROW_SCHEMA, null, 2)}\n`);
    return;
  }
  const config = loaded(options);
  if (options.family !== undefined) {
    if (!(EVENT_FAMILIES as readonly string[]).includes(options.family)) {
      throw new GatewayError('GW_USAGE', `--family "${options.family}": expected one of ${EVENT_FAMILIES.join(', ')}`);
    }
    process.stdout.write(`${JSON.stringify(familyJsonSchema(options.family as EventFamily), null, 2)}\n`);
    return;
  }
  const subjects = subjectsOf(config, config?.kafka.schemaRegistry);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(subjects.map((s) => ({ family: s.family, topic: s.topic, subject: s.subject, schema: JSON.parse(s.schema) as unknown })))}\n`);
    return;
  }
  for (const s of subjects) {
    process.stdout.write(`# ${s.family}: topic ${s.topic}, subject ${s.subject}\n${JSON.stringify(JSON.parse(s.schema), null, 2)}\n\n`);
  }
}

async function check(options: SchemasOptions): Promise<void> {
  const config = loaded(options);
  const registry = registryOf(options, config);
  const results = await checkSubjects(clientOf(registry), subjectsOf(config, registry));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(results.map(({ schema: _schema, ...r }) => r))}\n`);
  } else {
    for (const r of results) {
      const what =
        r.state === 'registered'
          ? `registered (id ${r.id}, version ${r.version})`
          : r.state === 'new'
            ? 'not registered yet (a new subject)'
            : r.state === 'compatible'
              ? 'not registered yet; compatible with the latest version'
              : `INCOMPATIBLE: ${'reason' in r ? r.reason : ''}`;
      process.stdout.write(`${r.subject}: ${what}\n`);
    }
  }
  const refused = results.flatMap((r) => (r.state === 'incompatible' ? [`${r.subject}: ${r.reason}`] : []));
  if (refused.length > 0) {
    throw new GatewayError('GW_SCHEMA_INCOMPATIBLE', `${refused.length} of ${results.length} subjects would refuse the gateway's schema at ${registry.url}`, {
      details: refused,
    });
  }
}

async function register(options: SchemasOptions): Promise<void> {
  const config = loaded(options);
  const registry = registryOf(options, config);
  const results = await registerSubjects(clientOf(registry), subjectsOf(config, registry), registry.compatibility);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(results.map((r) => ({ family: r.family, topic: r.topic, subject: r.subject, id: r.id, outcome: r.outcome })))}\n`);
    return;
  }
  for (const r of results) process.stdout.write(`${r.subject}: ${r.outcome === 'found' ? 'already registered' : 'registered'} as id ${r.id} (compatibility ${registry.compatibility})\n`);
}

export function registerSchemas(program: Command): void {
  const schemas = program
    .command('schemas')
    .description('The JSON Schema of each event family in a schema registry (Confluent-compatible API): print, check, register');
  const common = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'gateway config: its topics and kafka.schemaRegistry (url, auth, subject strategy, compatibility)')
      .option('--registry <url>', 'registry URL instead of kafka.schemaRegistry.url (Apicurio: http://HOST:8080/apis/ccompat/v7)')
      .option('--json', 'print JSON');
  common(
    schemas
      .command('print')
      .description('Print the subject and JSON Schema (draft-07) of each family, as the gateway registers them; needs no registry')
      .option('--family <family>', `only this family's schema, as plain JSON: ${EVENT_FAMILIES.join(', ')}`)
      .option('--connect', 'the Kafka Connect schema of the kafka.connect copies instead'),
  ).action(print);
  common(
    schemas
      .command('check')
      .description('Tell per subject whether the schema is registered, new, compatible or refused; changes nothing; exit 1 when any is refused (GW_SCHEMA_INCOMPATIBLE)'),
  ).action(check);
  common(
    schemas
      .command('register')
      .description('Set each subject\'s compatibility level and register the schemas, as the gateway does at start; exit 1 when the registry refuses one'),
  ).action(register);
}
