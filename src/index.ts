export { Gateway, type GatewayDeps } from './gateway.js';
export { loadConfig, validateConfig } from './config/load.js';
export { GatewayConfigSchema, configJsonSchema, type GatewayConfig } from './config/schema.js';
export { SqliteBuffer, type StoredEvent, type BufferStats } from './buffer/sqlite-buffer.js';
export { Forwarder, cloudEventHeaders } from './forwarder/forwarder.js';
export { topicFor } from './events/topics.js';
export type { KafkaTransport, KafkaRecord, TopicBatch } from './forwarder/kafka-transport.js';
export { ERROR_CODES, GatewayError, type ErrorCode } from './errors.js';
export * from './events/schema.js';
