// vitest globalSetup: ONE real Kafka broker (KRaft, scripts/kafka-broker.mjs) for the whole run.
//
// Port: $TEST_KAFKA_PORT, else a free port. Data: a fresh temp dir per run, removed at the end.
// Tests get the address with `inject('kafkaBootstrap')`; child processes with $KAFKA_BOOTSTRAP.
// A broker that does not start fails the run (with the broker log tail); nothing is skipped.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { findFreePort, startBroker } from '../scripts/kafka-broker.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBootstrap: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const envPort = process.env.TEST_KAFKA_PORT;
  const port = envPort ? Number(envPort) : await findFreePort();
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`bad TEST_KAFKA_PORT: ${envPort}`);
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `etg-kafka-${port}-`));

  const t0 = Date.now();
  let broker;
  try {
    broker = await startBroker({ port, dataDir });
  } catch (err) {
    // keep dataDir: it holds broker.log for a look after the failed run
    throw new Error(
      `test Kafka broker did not start on 127.0.0.1:${port} (data dir ${dataDir}): ${(err as Error).message}`,
      { cause: err },
    );
  }
  console.log(
    `[global-setup] Kafka ${broker.bootstrap} up in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(pid ${broker.pid}, log ${broker.logFile})`,
  );

  process.env.KAFKA_BOOTSTRAP = broker.bootstrap;
  project.provide('kafkaBootstrap', broker.bootstrap);

  // The broker runs detached: should vitest exit without running the teardown, kill it anyway.
  const started = broker;
  let stopped = false;
  const killOnExit = () => {
    if (!stopped) {
      try {
        started.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  process.once('exit', killOnExit);

  return async () => {
    try {
      await started.stop();
      stopped = true;
    } finally {
      process.off('exit', killOnExit);
    }
    await rm(dataDir, { recursive: true, force: true });
  };
}
