// A gateway loads only the packages its config uses (#14, memory): the CLI's static import graph (every command)
// must not pull in what only some inputs or one Kafka client need; those load when such an input starts or the
// transport is created. Probed in a child process on the built CLI, by the packages in Node's module cache.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const COMMANDS = pathToFileURL(resolve(import.meta.dirname, '../dist/commands/index.js')).href;

/** Packages an MQTT-only gateway on librdkafka (or on kafkajs) has no use for, each loaded by its one user. */
const ON_DEMAND = ['serialport', '@serialport/bindings-cpp', 'sparkplug-payload', 'protobufjs', 'modbus-serial', 'kafkajs', '@confluentinc/kafka-javascript'];

/** The packages loaded after importing the CLI's commands and then running `then` (ESM source). */
function loadedPackages(then = ''): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    await import(${JSON.stringify(COMMANDS)});
    ${then}
    const names = new Set(Object.keys(require.cache).map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1]).filter(Boolean));
    console.log(JSON.stringify([...names]));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: resolve(import.meta.dirname, '..'), encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('packages loaded on demand', () => {
  it('the CLI with all its commands loads none of them', () => {
    const loaded = loadedPackages();
    // What every gateway needs is there: the probe sees the packages the commands import.
    expect(loaded).toEqual(expect.arrayContaining(['mqtt', 'better-sqlite3', 'prom-client']));
    for (const name of ON_DEMAND) expect(loaded, name).not.toContain(name);
  });

  it('the probe sees them once they are loaded the way their users load them', () => {
    // serial-input.ts: `await import('serialport')`; sparkplug-b.ts: require of the Tahu schema; bus.ts: `await
    // import('modbus-serial')`; create-transport.ts: the chosen client's transport module.
    const loaded = loadedPackages(`
      await import('serialport');
      require('sparkplug-payload/lib/sparkplugPayloadProto.js');
      await import('modbus-serial');
      await import('kafkajs');
      await import('@confluentinc/kafka-javascript');`);
    for (const name of ON_DEMAND) expect(loaded, name).toContain(name);
  });
});
