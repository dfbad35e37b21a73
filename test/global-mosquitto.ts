// vitest globalSetup: a private Mosquitto (the real broker binary) for the whole run, with an unbounded queue
// per persistent session so fault tests can count every message. Tests get it with inject('mqttUrl').
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMosquitto } from '../scripts/mosquitto.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    mqttUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'etg-mosquitto-'));
  const broker = await startMosquitto({ dataDir });
  console.log(`[global-setup] Mosquitto ${broker.url} (pid ${broker.pid})`);
  process.env.MQTT_URL = broker.url;
  project.provide('mqttUrl', broker.url);
  return async () => {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
