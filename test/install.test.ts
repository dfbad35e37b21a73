import { execFile, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IConnackPacket } from 'mqtt';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startMosquitto } from '../scripts/mosquitto.mjs';
import { uniqueName, waitFor } from './support/wait.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..');
const NAME = 'edge-telemetry-gateway';

/**
 * A frozen copy of what install.sh installs from (the working tree is shared and rebuilt by others while tests
 * run: installing twice from it would see real changes). node_modules is a link to the checkout's.
 */
function sourceSnapshot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'etg-install-src-'));
  for (const entry of ['dist', 'devices', 'config', 'schemas', 'systemd', 'docs', 'scripts', 'package.json', 'package-lock.json']) {
    if (existsSync(join(REPO, entry))) cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}
const INSTALL = join(sourceSnapshot(), 'systemd/install.sh');

/*
 * install.sh into a scratch root (--destdir), as an image build would use it. Production dependencies come from
 * this checkout's node_modules (--deps copy: copied, then `npm prune --omit=dev`), offline through
 * npm_config_offline, so the test needs no registry; the default `npm ci --omit=dev` differs only in where the
 * packages come from. Users, groups and ownership go into the scratch root's own /etc/passwd and /etc/group
 * (systemd-sysusers/systemd-tmpfiles --root), so the test machine's users are not touched. Needs root (chown).
 */
async function install(destdir: string, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('bash', [INSTALL, '--destdir', destdir, '--deps', 'copy', ...args], {
    env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}

/** Every path under root with type, mode, owner, size, mtime and link target: equal snapshots = nothing changed. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const link = st.isSymbolicLink() ? ` -> ${readlinkSync(path)}` : '';
      out.push(`${path.slice(root.length)} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}${link}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

/** uid/gid of a name in the scratch root's /etc/passwd or /etc/group. */
function idOf(root: string, file: 'passwd' | 'group', name: string): number {
  const line = readFileSync(join(root, 'etc', file), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} not in ${file}`);
  return Number(line.split(':')[2]);
}

function mode(path: string): string {
  return (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');
}

function owner(path: string): string {
  const st = statSync(path);
  return `${st.uid}:${st.gid}`;
}

describe('systemd/install.sh --destdir', () => {
  const root = mkdtempSync(join(tmpdir(), 'etg-install-'));
  const app = join(root, 'opt', NAME);
  const conf = join(root, 'etc', NAME);
  const state = join(root, 'var/lib', NAME);
  let firstOutput = '';

  beforeAll(async () => {
    firstOutput = await install(root);
  }, 300_000);

  it('installs the app with production dependencies only, and the CLI on PATH', () => {
    expect(firstOutput).toContain('dependencies: copying');
    expect(mode(join(app, 'dist/cli.js'))).toBe('0755');
    expect(owner(join(app, 'dist/cli.js'))).toBe('0:0');
    for (const dir of ['dist', 'devices', 'config', 'schemas', 'systemd']) expect(statSync(join(app, dir)).isDirectory()).toBe(true);
    expect(readdirSync(join(app, 'devices')).filter((f) => f.endsWith('.yaml')).length).toBeGreaterThan(0);
    for (const dep of ['better-sqlite3', 'kafkajs', 'mqtt', 'pino', 'zod', 'yaml', 'commander']) {
      expect(existsSync(join(app, 'node_modules', dep, 'package.json')), dep).toBe(true);
    }
    for (const devDep of ['vitest', 'typescript', 'eslint']) expect(existsSync(join(app, 'node_modules', devDep)), devDep).toBe(false);
    expect(readlinkSync(join(root, 'usr/local/bin/telemetry-gateway'))).toBe(`/opt/${NAME}/dist/cli.js`);
  });

  it('installs the unit, its sysusers/tmpfiles snippets, and enables it', () => {
    const unit = join(root, 'usr/local/lib/systemd/system', `${NAME}.service`);
    expect(mode(unit)).toBe('0644');
    expect(readFileSync(unit, 'utf8')).toContain(`ExecStart=/usr/bin/node /opt/${NAME}/dist/cli.js run --config /etc/${NAME}/gateway.yaml`);
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants', `${NAME}.service`))).toBe(
      `/usr/local/lib/systemd/system/${NAME}.service`,
    );
    expect(existsSync(join(root, 'usr/local/lib/sysusers.d', `${NAME}.conf`))).toBe(true);
    expect(existsSync(join(root, 'usr/local/lib/tmpfiles.d', `${NAME}.conf`))).toBe(true);
  });

  it('creates the system user, in group dialout, without a login shell', () => {
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(new RegExp(`^${NAME}:x:\\d+:\\d+:[^:]*:/var/lib/${NAME}:/usr/sbin/nologin$`, 'm'));
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).toMatch(new RegExp(`^dialout:x:\\d+:(.*,)?${NAME}(,.*)?$`, 'm'));
  });

  it('sets up config, credentials and state with owners and modes for the service user only', () => {
    const uid = idOf(root, 'passwd', NAME);
    const gid = idOf(root, 'group', NAME);
    expect([mode(conf), owner(conf)]).toEqual(['0750', `0:${gid}`]);
    expect([mode(join(conf, 'gateway.yaml')), owner(join(conf, 'gateway.yaml'))]).toEqual(['0640', `0:${gid}`]);
    expect([mode(join(conf, 'devices')), owner(join(conf, 'devices'))]).toEqual(['0750', `0:${gid}`]);
    expect([mode(join(conf, 'credentials')), owner(join(conf, 'credentials'))]).toEqual(['0700', '0:0']);
    expect([mode(state), owner(state)]).toEqual(['0750', `${uid}:${gid}`]);
    // The installed config keeps its buffer in the StateDirectory, the one place ProtectSystem=strict leaves writable.
    const config = parse(readFileSync(join(conf, 'gateway.yaml'), 'utf8')) as { buffer: { path: string } };
    expect(config.buffer.path).toBe(`/var/lib/${NAME}/buffer.db`);
  });

  it('installs a config the installed app accepts', async () => {
    const { stdout } = await run(process.execPath, [join(app, 'dist/cli.js'), 'check-config', '--config', join(conf, 'gateway.yaml')]);
    expect(stdout).toContain('valid');
  });

  it('installs an app that runs from /opt with only its production dependencies', async () => {
    const gatewayId = uniqueName('installed');
    const dir = mkdtempSync(join(tmpdir(), 'etg-installed-run-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      stringify({
        gateway: { id: gatewayId },
        buffer: { path: join(dir, 'buffer.db') },
        kafka: { brokers: [inject('kafkaBootstrap')], topics: { prefix: `${gatewayId}.` } },
        inputs: [{ type: 'mqtt', name: 'site', url: inject('mqttUrl'), subscriptions: [{ topic: `${gatewayId}/+`, deviceId: '{1}', metrics: [{ field: 't', metric: 't', unit: 'Cel' }] }] }],
      }),
    );
    const child = spawn(process.execPath, [join(app, 'dist/cli.js'), 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor('installed gateway started', () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`);
        return out.includes('"msg":"gateway started"');
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('changes nothing when run a second time', async () => {
    const before = snapshot(root);
    const output = await install(root);
    expect(output).toContain('dependencies unchanged');
    expect(output).toContain('done (nothing changed)');
    expect(snapshot(root)).toEqual(before);
  }, 300_000);

  it('never overwrites an existing config', async () => {
    const file = join(conf, 'gateway.yaml');
    appendFileSync(file, '# edited by the operator\n');
    const edited = readFileSync(file, 'utf8');
    const output = await install(root);
    expect(output).toContain('kept the existing');
    expect(readFileSync(file, 'utf8')).toBe(edited);
  }, 300_000);

  it('--with-mosquitto installs the broker drop-in, makes mosquitto.conf read conf.d, warns about overrides, and is idempotent', async () => {
    // A mosquitto.conf like Debian's, edited to drop its include_dir line (as on some images).
    const mosquittoDir = join(root, 'etc/mosquitto');
    const main = join(mosquittoDir, 'mosquitto.conf');
    mkdirSync(join(mosquittoDir, 'conf.d'), { recursive: true });
    writeFileSync(main, 'pid_file /run/mosquitto/mosquitto.pid\npersistence true\npersistence_location /var/lib/mosquitto/\nlog_dest file /var/log/mosquitto/mosquitto.log\n');
    writeFileSync(join(mosquittoDir, 'conf.d/local.conf'), 'max_queued_messages 1000\n');
    const output = await install(root, '--with-mosquitto');
    const dropIn = join(mosquittoDir, 'conf.d', `${NAME}.conf`);
    expect(readFileSync(dropIn, 'utf8')).toBe(readFileSync(join(REPO, 'config/mosquitto', `${NAME}.conf`), 'utf8'));
    expect(mode(dropIn)).toBe('0644');
    expect(readFileSync(main, 'utf8').match(/^include_dir \/etc\/mosquitto\/conf\.d$/gm)).toHaveLength(1);
    expect(output).toContain("/etc/mosquitto/conf.d/local.conf sets 'max_queued_messages 1000'");
    expect(output).not.toContain('no persistence_location');

    const again = await install(root, '--with-mosquitto');
    expect(again).toContain('done (nothing changed)');
    expect(readFileSync(main, 'utf8').match(/^include_dir/gm)).toHaveLength(1);

    // Real Mosquitto reads the installed drop-in: the Receive Maximum it grants is its max_inflight_messages.
    const dataDir = mkdtempSync(join(tmpdir(), 'etg-install-mosquitto-'));
    const broker = await startMosquitto({ dataDir, profile: 'stock', extraConfig: [`include_dir ${join(mosquittoDir, 'conf.d')}`] });
    try {
      const connack = await new Promise<IConnackPacket>((resolveConnack, reject) => {
        const client = mqtt.connect(broker.url, { protocolVersion: 5, clientId: uniqueName('install-probe'), reconnectPeriod: 0 });
        client.once('connect', (packet) => {
          client.end();
          resolveConnack(packet);
        });
        client.once('error', reject);
      });
      expect(connack.properties?.receiveMaximum).toBe(1000);
    } finally {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  it('--uninstall removes the app and the unit but keeps config, buffer and user; --purge-* deletes them', async () => {
    writeFileSync(join(state, 'buffer.db'), 'events not yet delivered');
    const output = await install(root, '--uninstall');
    expect(output).toContain('kept the buffer');
    expect(existsSync(app)).toBe(false);
    expect(existsSync(join(root, 'usr/local/lib/systemd/system', `${NAME}.service`))).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants', `${NAME}.service`))).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/telemetry-gateway'))).toBe(false);
    expect(existsSync(join(root, 'etc/mosquitto/conf.d', `${NAME}.conf`))).toBe(false);
    expect(readFileSync(join(root, 'etc/mosquitto/conf.d/local.conf'), 'utf8')).toBe('max_queued_messages 1000\n');
    expect(readFileSync(join(state, 'buffer.db'), 'utf8')).toBe('events not yet delivered');
    expect(readFileSync(join(conf, 'gateway.yaml'), 'utf8')).toContain('# edited by the operator');
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toContain(`${NAME}:`);

    await install(root, '--uninstall', '--purge-config', '--purge-buffer');
    expect(existsSync(conf)).toBe(false);
    expect(existsSync(state)).toBe(false);
  }, 300_000);
});
