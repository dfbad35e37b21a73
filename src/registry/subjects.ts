/**
 * What the gateway registers: one JSON Schema per event family (the types that travel on that family's topic),
 * generated from the same zod source as the event types, and the registry subject it goes under.
 *
 * Draft-07, not the 2020-12 of schemas/events.schema.json: registries check compatibility of draft-07 schemas
 * (Apicurio refuses 2020-12 with "could not determine version"; Confluent's checker also works on draft-07).
 * The event objects are closed (additionalProperties: false), so adding an optional field is a BACKWARD
 * compatible change, and removing or retyping one is refused.
 */
import { z } from 'zod';
import type { TopicsConfig } from '../config/schema.js';
import {
  AlarmEventSchema,
  DeadLetterEventSchema,
  DeviceStatusEventSchema,
  EVENT_FAMILIES,
  GapEventSchema,
  GatewayHealthEventSchema,
  ReadingEventSchema,
  SCHEMA_VERSION,
  type EventFamily,
} from '../events/schema.js';
import { topicFor } from '../events/topics.js';
import type { SubjectStrategy } from './config.js';

const FAMILY_SCHEMAS: Readonly<Record<EventFamily, z.ZodType>> = {
  readings: z.discriminatedUnion('type', [ReadingEventSchema, GapEventSchema]),
  alarms: AlarmEventSchema,
  deviceStatus: DeviceStatusEventSchema,
  gatewayHealth: GatewayHealthEventSchema,
  deadLetter: DeadLetterEventSchema,
};

/** The record name of a family's schema (its `title`), used by the record-name subject strategies. */
export function recordName(family: EventFamily): string {
  return `io.edge-telemetry-gateway.${family}`;
}

/** The JSON Schema (draft-07) of the events on one family's topic. */
export function familyJsonSchema(family: EventFamily): Record<string, unknown> {
  const schema = z.toJSONSchema(FAMILY_SCHEMAS[family], { target: 'draft-7' }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: recordName(family),
    description: `edge-telemetry-gateway ${family} events, schemaVersion ${SCHEMA_VERSION}`,
    ...rest,
  };
}

/** The schema text as it is registered: compact JSON, so the same schema is always the same text. */
export function familySchemaText(family: EventFamily): string {
  return JSON.stringify(familyJsonSchema(family));
}

export function subjectName(strategy: SubjectStrategy, topic: string, family: EventFamily): string {
  if (strategy === 'topic-name') return `${topic}-value`;
  if (strategy === 'record-name') return recordName(family);
  return `${topic}-${recordName(family)}`;
}

export interface FamilySubject {
  family: EventFamily;
  topic: string;
  subject: string;
  schema: string;
}

/** Every family the gateway produces, with its topic, subject and schema text. */
export function familySubjects(topics: z.infer<typeof TopicsConfig>, strategy: SubjectStrategy): FamilySubject[] {
  return EVENT_FAMILIES.map((family) => {
    const topic = topicFor(topics, family);
    return { family, topic, subject: subjectName(strategy, topic, family), schema: familySchemaText(family) };
  });
}
