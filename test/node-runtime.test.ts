// Supported Node.js versions: what package.json and the README declare, that the Node 24 pass really runs on
// Node 24 with native modules of its own, the cross-build settings for arm64, and what a user sees when
// better-sqlite3 was built for another Node (GW_NATIVE_MODULE).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  ARM64_SMOKE_VERSIONS,
  ARM64_SYSROOT,
  NODE24,
  NODE_RUNTIMES,
  TARGET_LIBRARIES,
  crossBuildEnv,
  elfMachine,
  ensureArm64Libraries,
  ensureNodeRuntime,
  hostArch,
  installInputsHash,
  nativeLoadCheck,
  nativePackages,
  nodeCommand,
  packagesNeedingTargetLibraries,
} from '../scripts/node-runtime.mjs';
import { FAST_TESTS } from '../vitest.fast.config.js';
import { CLI } from './support/gateway-process.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
const HOST_ELF = { x64: 62, arm64: 183 }[hostArch()];

/** `^M.m.p || ^M...`: the only form `engines` uses; returns whether `version` satisfies one of the alternatives. */
function satisfiesCaretRange(range: string, version: string): boolean {
  const [major, minor, patch] = version.split('.').map(Number) as [number, number, number];
  return range.split('||').some((alternative) => {
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(alternative.trim());
    if (!m) throw new Error(`engines.node alternative "${alternative.trim()}" is not of the form ^M.m.p`);
    const [lo, mi, pa] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return major === lo && (minor > mi || (minor === mi && patch >= pa));
  });
}

describe('supported Node.js versions', () => {
  it('package.json engines admits exactly the supported majors 20, 22 and 24, and every pinned test runtime', () => {
    const majors = pkg.engines.node.split('||').map((a) => Number(/\^(\d+)\./.exec(a)?.[1]));
    expect(majors).toEqual([20, 22, 24]);
    for (const version of Object.keys(NODE_RUNTIMES)) expect(satisfiesCaretRange(pkg.engines.node, version), version).toBe(true);
    expect(satisfiesCaretRange(pkg.engines.node, '18.20.8')).toBe(false);
    expect(satisfiesCaretRange(pkg.engines.node, '26.0.0')).toBe(false);
  });

  it('this test process runs on a supported Node.js (the one the Node 24 pass asks for), with better-sqlite3 built for it', () => {
    const expected = process.env.ETG_EXPECT_NODE;
    if (expected !== undefined) expect(process.version).toBe(`v${expected}`);
    expect(satisfiesCaretRange(pkg.engines.node, process.versions.node)).toBe(true);
    const db = new Database(':memory:');
    expect(db.prepare('SELECT 6 * 7 AS answer').get()).toEqual({ answer: 42 });
    db.close();
    const addon = join(REPO, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(elfMachine(addon)).toBe(HOST_ELF);
  });

  it('the README states the supported versions, the runtimes CI tests and the split of the suite', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const start = readme.indexOf('## Supported platforms');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    for (const version of [NODE24, ...ARM64_SMOKE_VERSIONS]) expect(section).toContain(version);
    expect(section).toContain('vitest.fast.config.ts');
    expect(section).toContain('test/arm64-smoke.test.ts');
  });

  it('the fast part of the suite names only test files that exist', () => {
    expect(FAST_TESTS.length).toBeGreaterThan(10);
    for (const file of FAST_TESTS) expect(existsSync(join(REPO, file)), file).toBe(true);
    expect(FAST_TESTS).toContain('test/e2e-mqtt-kafka.test.ts');
  });
});

describe('scripts/node-runtime.mjs', () => {
  it('cross-builds for arm64 with the aarch64 toolchain and runs arm64 programs under qemu-aarch64', () => {
    expect(crossBuildEnv(hostArch())).toEqual({});
    if (hostArch() === 'x64') {
      expect(crossBuildEnv('arm64')).toMatchObject({ npm_config_arch: 'arm64', CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++' });
      const runtime = { version: NODE24, arch: 'arm64' as const, dir: '/x', bin: '/x/bin/node' };
      expect(nodeCommand(runtime)).toEqual(['qemu-aarch64', '-L', ARM64_SYSROOT, '/x/bin/node']);
    }
    expect(nodeCommand({ version: NODE24, arch: hostArch(), dir: '/y', bin: '/y/bin/node' })).toEqual(['/y/bin/node']);
  });

  it('finds the native packages of a tree and its load check opens SQLite', async () => {
    const natives = nativePackages(join(REPO, 'node_modules'));
    expect(natives).toEqual(expect.arrayContaining(['better-sqlite3', '@serialport/bindings-cpp']));
    const { stdout } = await run(process.execPath, ['-e', nativeLoadCheck(natives)], { cwd: REPO });
    expect(stdout).toContain(`native modules load: ${natives.join(', ')} on ${process.arch} ${process.version}`);
  });

  it('keys dependency trees on what npm ci installs, not on the version, engines or scripts', () => {
    const manifest = { name: 'x', version: '1.0.0', engines: { node: '>=20' }, scripts: { test: 'a' }, dependencies: { a: '^1.0.0' } };
    const lock = { lockfileVersion: 3, packages: { '': { name: 'x', version: '1.0.0', engines: { node: '>=20' }, dependencies: { a: '^1.0.0' } }, 'node_modules/a': { version: '1.0.1' } } };
    const hash = (m: object, l: object): string => installInputsHash(JSON.stringify(m), JSON.stringify(l));
    const base = hash(manifest, lock);
    const relabelled = { ...manifest, version: '2.0.0', engines: { node: '^24.0.0' }, scripts: { test: 'b' } };
    expect(hash(relabelled, { ...lock, packages: { ...lock.packages, '': { ...lock.packages[''], version: '2.0.0', engines: { node: '^24.0.0' } } } })).toBe(base);
    expect(hash({ ...manifest, dependencies: { a: '^1.1.0' } }, lock)).not.toBe(base);
    expect(hash(manifest, { ...lock, packages: { ...lock.packages, 'node_modules/a': { version: '1.0.2' } } })).not.toBe(base);
  });

  it('finds the packages of a lockfile that link target libraries when cross-compiled, production or all', () => {
    const lock = (dev: boolean): string =>
      JSON.stringify({ packages: { '': {}, 'node_modules/@confluentinc/kafka-javascript': { version: '1.10.1', ...(dev ? { dev: true } : {}) }, 'node_modules/zod': {} } });
    expect(packagesNeedingTargetLibraries(lock(false), true)).toEqual(['@confluentinc/kafka-javascript']);
    expect(packagesNeedingTargetLibraries(lock(true), true)).toEqual([]);
    expect(packagesNeedingTargetLibraries(lock(true), false)).toEqual(['@confluentinc/kafka-javascript']);
    expect(packagesNeedingTargetLibraries(JSON.stringify({ packages: { '': {} } }), false)).toEqual([]);
  });

  it('unpacks Debian arm64 libraries that pkg-config and the linker then find for a cross build', async () => {
    const debs = TARGET_LIBRARIES['@confluentinc/kafka-javascript']?.debs ?? [];
    const libs = await ensureArm64Libraries(debs);
    const libssl = libs.libraryPath.map((dir) => join(dir, 'libssl.so.3')).find((f) => existsSync(f));
    expect(libssl).toBeDefined();
    expect(elfMachine(libssl ?? '')).toBe(183);
    const { stdout } = await run('pkg-config', ['--cflags', '--libs', 'libssl', 'zlib', 'libzstd', 'liblz4'], { env: { ...process.env, ...libs.env } });
    expect(stdout).toContain(`-I${libs.root}/usr/include`);
    expect(stdout).toMatch(/-lssl\b.*-lz\b.*-lzstd\b.*-llz4\b/s);
    expect(libs.env.LDFLAGS).toContain(`-Wl,-rpath-link,${libs.root}/usr/lib/aarch64-linux-gnu`);
    expect(nodeCommand({ version: NODE24, arch: 'arm64', dir: '/x', bin: '/x/bin/node' }, libs.libraryPath)).toContain(`LD_LIBRARY_PATH=${libs.libraryPath.join(':')}`);
  }, 300_000);

  it('knows a file that is not ELF', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'etg-elf-')), 'not-elf.node');
    writeFileSync(file, 'just text, not a shared object');
    expect(elfMachine(file)).toBe(-1);
  });
});

describe('better-sqlite3 built for another Node.js (upgraded after the install)', () => {
  it('run and buffer stats fail with GW_NATIVE_MODULE naming both ABIs and how to reinstall', async () => {
    // The other pinned runtime runs this checkout's dist/ with node_modules built for the Node running this test.
    const other = await ensureNodeRuntime(process.versions.node.startsWith('24.') ? '20.20.2' : NODE24);
    const otherAbi = (await run(other.bin, ['-p', 'process.versions.modules'])).stdout.trim();
    expect(otherAbi).not.toBe(process.versions.modules);
    const dir = mkdtempSync(join(tmpdir(), 'etg-abi-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, stringify({ gateway: { id: 'abi-check' }, buffer: { path: join(dir, 'buffer.db') }, kafka: { brokers: ['127.0.0.1:9'] }, inputs: [] }));

    for (const args of [['run', '--config', file], ['buffer', 'stats', '--config', file]]) {
      const failure = await run(other.bin, [CLI, ...args]).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(failure, args.join(' ')).toBeDefined();
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(`GW_NATIVE_MODULE: better-sqlite3 does not load on this Node.js v${other.version}`);
      expect(failure?.stderr).toContain(`ABI ${otherAbi}: it was built for ABI ${process.versions.modules}`);
      expect(failure?.stderr).toContain('npm rebuild better-sqlite3');
      expect(failure?.stderr).not.toContain('permissions');
    }
  });
});
