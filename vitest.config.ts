import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real Kafka broker (KRaft) for the whole run: inject('kafkaBootstrap'), $KAFKA_BOOTSTRAP.
    globalSetup: ['test/global-setup.ts', 'test/global-mosquitto.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
