// The README's first command, run twice against the suite's brokers on one state folder: devices → MQTT, Modbus,
// serial → gateway → Kafka, read back and printed. The second run is `npm run demo` itself, stopped by a SIGINT to
// the pid of npm; afterwards every demo topic must audit clean (the buffer is kept, so seq goes on).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { CLI } from './support/gateway-process.js';
import { readTopicWithKcat, topicSize } from './support/kafka.js';
import { waitFor } from './support/wait.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const DEMO_TOPICS = ['readings', 'alarms', 'device-status', 'gateway-health', 'deadletter'].map((t) => `demo.telemetry.${t}`);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What every demo run says at its start: what it runs, its topics, the status page, a tail command that works. */
function expectIntroduction(stdout: string, kafka: string): { statusPage: string; tail: string[]; gatewayPid: number } {
  expect(stdout).toContain('(already running)');
  expect(stdout).toContain('a Modbus TCP simulator (XY-MD02 sensor, Eastron SDM120 meter)');
  expect(stdout).toContain('a serial pulse oximeter on a pseudo-terminal');
  expect(stdout).toContain(`the Kafka topics with the prefix demo.telemetry.: ${DEMO_TOPICS.join(', ')}`);
  expect(stdout).toMatch(/buffer {4}\S+buffer\.db, kept across runs: seq continues where the last run stopped/);
  const statusPage = /^status page: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)?.[1];
  expect(statusPage, stdout).toBeDefined();
  const tail = /^tail: +(node dist\/cli\.js tail --brokers \S+ --prefix demo\.telemetry\.) /m.exec(stdout)?.[1];
  expect(tail, stdout).toBe(`node dist/cli.js tail --brokers ${kafka} --prefix demo.telemetry.`);
  const gatewayPid = Number(/^gateway .*\(pid (\d+),/m.exec(stdout)?.[1]);
  expect(gatewayPid).toBeGreaterThan(0);
  return { statusPage: statusPage ?? '', tail: (tail ?? '').split(' '), gatewayPid };
}

describe('npm run demo', () => {
  it('says what it runs and how to look at it, stops on SIGINT to the pid of npm run demo, and repeated runs audit clean', { timeout: 420_000 }, async () => {
    const kafka = inject('kafkaBootstrap');
    const kafkaPort = kafka.split(':')[1] ?? '';
    const mqttPort = new URL(inject('mqttUrl')).port;
    const stateDir = mkdtempSync(join(tmpdir(), 'etg-demo-'));
    const demoArgs = ['--kafka-port', kafkaPort, '--mqtt-port', mqttPort, '--state-dir', stateDir];

    // 1. A run that stops by itself.
    const first = await run(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--seconds', '12', ...demoArgs], { timeout: 150_000, maxBuffer: 16 * 1024 * 1024 });
    expectIntroduction(first.stdout, kafka);
    const summary = /demo ran \d+s: (\d+) readings reached Kafka/.exec(first.stdout);
    expect(Number(summary?.[1])).toBeGreaterThan(0);
    expect(first.stdout).toMatch(/demo\.telemetry\.readings\s+\d+ total\s+\d+\/s\s+\S+ [a-z-]+=\S+/);
    // The MQTT format simulators (scripts/demo-extras.mjs): every ecosystem's devices reached Kafka, none dead-lettered.
    expect(first.stdout).toMatch(/mqtt {6}mqtt sparkplug-b: 1 device\(s\)/);
    const devices = new Set((await readTopicWithKcat(kafka, 'demo.telemetry.readings')).map((r) => (JSON.parse(r.value) as { deviceId: string }).deviceId));
    for (const device of ['living_room_sensor', 'sonoff_pow_kitchen', 'shellyplus1pm-a8032ab1c2d4', 'demo-sparkplug-b/Edge1/Pump1', 'garden_weather']) expect(devices, device).toContain(device);
    const deadLetters = (await topicSize(kafka, 'demo.telemetry.deadletter')) > 0 ? await readTopicWithKcat(kafka, 'demo.telemetry.deadletter') : [];
    expect(deadLetters.map((r) => JSON.parse(r.value) as { input: string; reason: string }).filter((d) => d.input === 'demo-formats')).toEqual([]);

    // 2. `npm run demo` on the same state folder (dist/ is built; --ignore-scripts skips the predemo build), stopped
    // the way a user or a supervisor stops it: a signal to the pid they started.
    const npm = spawn('npm', ['run', '--silent', '--ignore-scripts', 'demo', '--', ...demoArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    npm.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
    try {
      await waitFor(`readings in the second run's table (stdout: ${stdout.slice(-2000)}; stderr: ${stderr.slice(-2000)})`, () => /demo\.telemetry\.readings\s+[1-9]\d* total/.test(stdout), {
        timeoutMs: 150_000,
      });
      const { statusPage, tail, gatewayPid } = expectIntroduction(stdout, kafka);
      const page = await fetch(statusPage);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');

      // The tail command it prints works as printed (from the repository root).
      const [, ...tailArgs] = tail;
      const tailer = spawn(process.execPath, tailArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let tailed = '';
      tailer.stdout.on('data', (chunk: Buffer) => (tailed += chunk.toString()));
      const tailExit = new Promise<number | null>((r) => tailer.once('exit', (code) => r(code)));
      await waitFor(`a reading from the printed tail command (got: ${tailed})`, () => /\b(temperature|humidity|power|spo2)\b/.test(tailed), { timeoutMs: 60_000 });
      tailer.kill('SIGINT');
      expect(await tailExit).toBe(0);

      expect(npm.pid).toBeDefined();
      process.kill(npm.pid ?? 0, 'SIGINT');
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 60_000))]);
      expect(code, `${stdout.slice(-2000)}\n${stderr.slice(-2000)}`).toBe(0);
      expect(stdout).toContain('stopping the demo...');
      await waitFor('the gateway the demo started to be gone', () => !isAlive(gatewayPid), { timeoutMs: 10_000 });
    } finally {
      // Whatever did not stop is stopped here: npm, the demo (its pid is in the state folder's lock), its gateway.
      if (npm.exitCode === null) npm.kill('SIGKILL');
      const demoPid = Number(readFileSync(join(stateDir, 'demo.pid'), { encoding: 'utf8', flag: 'a+' }));
      if (demoPid > 0 && isAlive(demoPid)) process.kill(demoPid, 'SIGTERM');
      const gatewayPid = Number(/^gateway .*\(pid (\d+),/m.exec(stdout)?.[1]);
      if (gatewayPid > 0 && isAlive(gatewayPid)) process.kill(gatewayPid, 'SIGTERM');
    }

    // 3. Both runs together: every demo topic audits clean (no seq reused, nothing out of order, nothing missing) ...
    for (const topic of DEMO_TOPICS) {
      const audit = await run(process.execPath, [CLI, 'audit', '--brokers', kafka, '--topic', topic, '--strict', '--timeout', '2m']);
      expect(audit.stdout, topic).toMatch(/^OK: missing undeclared 0, declared \d+, duplicate ids \d+, seq reused 0, out of order 0/m);
    }
    // ... and read with a third-party client, the readings of every device carry one seq per event id, across both runs.
    const seqs = new Map<string, Map<number, string>>();
    for (const { value } of await readTopicWithKcat(kafka, 'demo.telemetry.readings')) {
      const event = JSON.parse(value) as { id: string; gatewayId: string; deviceId: string; seq: number };
      const stream = seqs.get(`${event.gatewayId}/${event.deviceId}`) ?? new Map<number, string>();
      seqs.set(`${event.gatewayId}/${event.deviceId}`, stream);
      expect(stream.get(event.seq) ?? event.id, `${event.deviceId} seq ${event.seq}`).toBe(event.id);
      stream.set(event.seq, event.id);
    }
    expect([...seqs.keys()]).toEqual(expect.arrayContaining(['demo-gateway/greenhouse-th', 'demo-gateway/bed-7-oximeter', 'demo-gateway/living_room']));
  });
});
