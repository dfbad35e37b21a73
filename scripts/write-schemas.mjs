// Writes the JSON Schemas generated from the zod sources (npm run schemas); a test fails when they are stale.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/config/schema.js';
import { eventsJsonSchema } from '../dist/events/schema.js';

const root = new URL('..', import.meta.url);
writeFileSync(new URL('config/gateway.schema.json', root), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
writeFileSync(new URL('schemas/events.schema.json', root), `${JSON.stringify(eventsJsonSchema(), null, 2)}\n`);
console.log('wrote config/gateway.schema.json and schemas/events.schema.json');
