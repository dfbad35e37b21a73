// arm64 (Raspberry Pi OS 64-bit) smoke test under emulation, for each Node version a Pi gets (20 from apt on
// trixie, 24 LTS from NodeSource): the production dependencies cross-compiled for arm64 (scripts/node-runtime.mjs),
// systemd/install.sh into a scratch root with the npm registry's linux-arm64 node as /usr/bin/node, then that node
// under qemu-aarch64 runs the installed app: --version, check-config, and the gateway taking MQTT messages,
// committing them to its SQLite buffer and forwarding them to the test Kafka over loopback. Emulated timings mean
// nothing: only behaviour is asserted.
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ARM64_SMOKE_VERSIONS, elfMachine, ensureDependencyTree, nodeCommand, type DependencyTree } from '../scripts/node-runtime.mjs';
import type { ReadingEvent } from '../src/events/schema.js';
import type { BufferReport } from '../src/replay/buffer-stats.js';
import { GatewayProcess, writeTestConfig } from './support/gateway-process.js';
import { readTopic, readTopicWithKcat } from './support/kafka.js';
import { SensorPublisher } from './support/publisher.js';
import { uniqueName } from './support/wait.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..');
const NAME = 'edge-telemetry-gateway';
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const EM_AARCH64 = 183;
const MESSAGES = 300;
/** Each emulated node start costs seconds (tens of seconds on a loaded machine): deadlines, not expectations. */
const EMULATED_TIMEOUT = 600_000;
const DEVICES = 3;

/** What install.sh installs from, frozen (others rebuild the checkout meanwhile), with the arm64 node_modules. */
function sourceSnapshot(tree: DependencyTree): string {
  const dir = mkdtempSync(join(tmpdir(), 'etg-arm64-src-'));
  mkdirSync(join(dir, 'scripts'));
  for (const entry of ['dist', 'devices', 'config', 'schemas', 'systemd', 'docs', 'scripts/setup-librdkafka.mjs', 'package.json', 'package-lock.json']) {
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(tree.nodeModules, join(dir, 'node_modules'), 'dir');
  return dir;
}

describe.each(ARM64_SMOKE_VERSIONS)('arm64 under qemu-aarch64, Node %s: install.sh into a scratch root, then the installed gateway', (version) => {
  const root = mkdtempSync(join(tmpdir(), `etg-arm64-${version}-`));
  const app = join(root, 'opt', NAME);
  let node: string[] = [];
  let installOutput = '';

  beforeAll(async () => {
    // Cross-built once per lockfile and cached; scripts/ensure-test-deps.sh usually made it before the suite started.
    const tree = await ensureDependencyTree({ version, arch: 'arm64', production: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    copyFileSync(tree.runtime.bin, join(root, 'usr/bin/node'));
    node = nodeCommand({ ...tree.runtime, bin: join(root, 'usr/bin/node') }, tree.libraryPath);
    const src = sourceSnapshot(tree);
    // --deps copy: the cross-built tree, pruned of nothing (it is production only), offline; --check-node: the
    // target's own node checks that better-sqlite3 loads, under qemu.
    const { stdout, stderr } = await run('bash', [join(src, 'systemd/install.sh'), '--destdir', root, '--deps', 'copy', '--check-node', node.join(' ')], {
      env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
      maxBuffer: 16 * 1024 * 1024,
    });
    installOutput = stdout + stderr;
  }, 900_000);

  it('installs the app with native modules compiled for arm64, checked by the arm64 node', async () => {
    expect(installOutput).toContain('dependencies: copying');
    expect(readFileSync(join(app, 'node_modules/.install-stamp'), 'utf8')).toContain(`node=v${version} arch=arm64`);
    expect(readFileSync(join(root, 'usr/local/lib/systemd/system', `${NAME}.service`), 'utf8')).toContain(`ExecStart=/usr/bin/node /opt/${NAME}/dist/cli.js run`);
    const sqliteAddon = join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(elfMachine(sqliteAddon)).toBe(EM_AARCH64);
    expect(elfMachine(join(root, 'usr/bin/node'))).toBe(EM_AARCH64);
    const serialAddon = join(app, 'node_modules/@serialport/bindings-cpp/build/Release/bindings.node');
    const serialPrebuild = join(app, 'node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64/@serialport+bindings-cpp.armv8.glibc.node');
    expect(elfMachine(existsSync(serialAddon) ? serialAddon : serialPrebuild)).toBe(EM_AARCH64);
    const { stdout } = await run(node[0] ?? '', [...node.slice(1), '-p', 'process.arch + " " + process.version']);
    expect(stdout.trim()).toBe(`arm64 v${version}`);
  }, EMULATED_TIMEOUT);

  it('--version and check-config work on the installed app', async () => {
    const cli = join(app, 'dist/cli.js');
    const version_ = await run(node[0] ?? '', [...node.slice(1), cli, '--version']);
    expect(version_.stdout.trim()).toBe(VERSION);

    const valid = await run(node[0] ?? '', [...node.slice(1), cli, 'check-config', '--config', join(root, 'etc', NAME, 'gateway.yaml')]);
    expect(valid.stdout).toContain('valid');

    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'gateway: { id: pi }\nbuffer: { synchronous: SOMETIMES }\nkafka: { brokers: [127.0.0.1:9092] }\ninputs: []\n');
    const failure = await run(node[0] ?? '', [...node.slice(1), cli, 'check-config', '--config', bad]).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(failure?.code).toBe(1);
    expect(`${failure?.stdout}${failure?.stderr}`).toContain('GW_CONFIG_INVALID');
    expect(`${failure?.stdout}${failure?.stderr}`).toContain('buffer.synchronous');
  }, EMULATED_TIMEOUT);

  it(`takes ${MESSAGES} QoS 1 MQTT messages, commits them to SQLite and forwards them to Kafka`, async () => {
    const kafka = inject('kafkaBootstrap');
    const mqttUrl = inject('mqttUrl');
    const gatewayId = uniqueName(`arm64-${version.split('.')[0]}`);
    const prefix = `${gatewayId}.`;
    const { file } = writeTestConfig({ gatewayId, brokers: [kafka], mqttUrl, topicPrefix: prefix });
    const cli = join(app, 'dist/cli.js');
    const gateway = new GatewayProcess(file, {}, [], { node, cli });
    let publisher: SensorPublisher | undefined;
    try {
      // Ready as an operator sees it: /readyz 200 and etg_mqtt_subscribed 1 on /metrics (the broker granted the
      // subscription, so every message published from now on reaches the gateway).
      await gateway.ready(300_000);
      publisher = await SensorPublisher.connect(mqttUrl, `${gatewayId}-pub`);
      // A PUBACK comes only after the message's events are committed to the buffer.
      await publisher.publishMany(`${gatewayId}/sensors`, 0, MESSAGES, DEVICES);
      expect(publisher.acked.size).toBe(MESSAGES);

      const topic = `${prefix}readings`;
      const records = await readTopic(kafka, topic, MESSAGES * 2, 180_000);
      expect(records).toHaveLength(MESSAGES * 2);
      const events = records.map((r) => JSON.parse(r.value) as ReadingEvent);
      expect(new Set(events.map((e) => e.id)).size).toBe(MESSAGES * 2);
      expect(new Set(events.filter((e) => e.metric === 'temperature').map((e) => e.value)).size).toBe(MESSAGES);
      for (const r of records) expect(r.key).toBe((JSON.parse(r.value) as ReadingEvent).deviceId);
      const viaKcat = await readTopicWithKcat(kafka, topic);
      expect(new Set(viaKcat.map((r) => (JSON.parse(r.value) as ReadingEvent).id))).toEqual(new Set(events.map((e) => e.id)));
    } finally {
      await publisher?.close();
      expect(await gateway.stop(120_000)).toBe(0);
    }

    // The arm64 better-sqlite3 reads back what the gateway committed: every event delivered and kept for replay.
    const { stdout } = await run(node[0] ?? '', [...node.slice(1), cli, 'buffer', 'stats', '--config', file, '--json']);
    const report = JSON.parse(stdout) as BufferReport;
    expect(report.pending.total).toBe(0);
    expect(report.retained.count).toBeGreaterThanOrEqual(MESSAGES * 2);
  }, EMULATED_TIMEOUT);
});
