/** Consumer-facing entry point (`edge-telemetry-gateway/events`): event types and their JSON Schema. */
export * from './schema.js';
