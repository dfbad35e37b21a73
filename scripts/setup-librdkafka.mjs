#!/usr/bin/env node
// Builds the native Kafka client (@confluentinc/kafka-javascript, an optional dependency) for kafka.client:
// librdkafka. npm does not run the package's own install script (package.json allowScripts): that script
// downloads a prebuilt binary or, failing that, builds librdkafka with OpenSSL, zstd and curl it downloads too,
// neither of which works offline. Here librdkafka is built from the sources in the package and linked against
// the system's libssl, zlib, zstd, lz4 and SASL (CKJS_LINKING=dynamic); as root, missing Debian build packages
// are installed first.
//
//   node scripts/setup-librdkafka.mjs              build if needed; exit 1 with what to do when it cannot
//   node scripts/setup-librdkafka.mjs --optional   the same, but exit 0 (npm ci's postinstall: kafkajs still works);
//                                                  does nothing when this package is installed as another one's dependency
//   node scripts/setup-librdkafka.mjs --no-install never run apt-get; report missing packages instead
//   node scripts/setup-librdkafka.mjs --check      only report whether the client loads (exit 0/1)
// Idempotent: when the module already loads it prints its version and exits at once.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@confluentinc/kafka-javascript';
/** Debian packages with the headers librdkafka is linked against, and the header that proves each one. */
const DEV_PACKAGES = [
  { pkg: 'libssl-dev', header: 'openssl/ssl.h' },
  { pkg: 'zlib1g-dev', header: 'zlib.h' },
  { pkg: 'libzstd-dev', header: 'zstd.h' },
  { pkg: 'liblz4-dev', header: 'lz4.h' },
  { pkg: 'libsasl2-dev', header: 'sasl/sasl.h' },
];
const TOOLS = [
  { pkg: 'g++', command: 'g++' },
  { pkg: 'make', command: 'make' },
  { pkg: 'python3', command: 'python3' },
];

const args = new Set(process.argv.slice(2));
const optional = args.has('--optional');
const mayInstall = !args.has('--no-install');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const say = (line) => process.stderr.write(`[setup-librdkafka] ${line}\n`);

function giveUp(reason, fix) {
  say(`the librdkafka client is NOT available: ${reason}`);
  if (fix) say(`fix: ${fix}`);
  say('until then use kafka.client: kafkajs (the gateway reports GW_KAFKA_CLIENT if a config asks for librdkafka)');
  process.exit(optional ? 0 : 1);
}

/** Loads the module in a fresh process (a failed dlopen in this one would be cached). */
function loadsVersion() {
  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(PACKAGE)}).librdkafkaVersion)`], {
    cwd: root,
    encoding: 'utf8',
  });
  return probe.status === 0 ? { version: probe.stdout.trim() } : { error: (probe.stderr || '').split('\n').find((l) => /Error/.test(l)) ?? probe.stderr };
}

function packageDir() {
  try {
    return path.dirname(require.resolve(`${PACKAGE}/package.json`));
  } catch {
    return undefined;
  }
}

const have = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** Whether the C compiler finds a header on its own include path (what the build will see). */
function headerFound(header) {
  if (!have('cc') && !have('gcc')) return existsSync(path.join('/usr/include', header));
  const cc = have('cc') ? 'cc' : 'gcc';
  return spawnSync(cc, ['-E', '-x', 'c', '-'], { input: `#include <${header}>\n`, stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
}

function missingPackages() {
  const missing = TOOLS.filter((t) => !have(t.command)).map((t) => t.pkg);
  for (const d of DEV_PACKAGES) if (!headerFound(d.header)) missing.push(d.pkg);
  return missing;
}

// npm ci of another project that depends on this package (e.g. for the consumer kit): build nothing, install nothing.
if (optional && process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) !== root) {
  say(`installed as a dependency: not building the librdkafka client (the gateway needs it only with kafka.client: librdkafka; build it with: node ${path.relative(process.env.INIT_CWD, path.join(root, 'scripts', 'setup-librdkafka.mjs'))})`);
  process.exit(0);
}

// A cross-build (npm_config_arch, e.g. an arm64 tree built on x64 by scripts/node-runtime.mjs): this Node cannot
// load what is built, so the build runs unconditionally and the caller checks the result with the target's node.
const targetArch = process.env.npm_config_arch;
const cross = targetArch !== undefined && targetArch !== '' && targetArch !== process.arch;
const first = cross ? { error: `cross-build for ${targetArch}` } : loadsVersion();
if (first.version) {
  say(`librdkafka ${first.version} loads; nothing to do`);
  process.exit(0);
}
if (args.has('--check')) giveUp(`it does not load (${first.error.trim()})`, 'npm run setup:librdkafka');
const dir = packageDir();
if (!dir) giveUp(`${PACKAGE} is not installed (npm ci skips optional dependencies with --omit=optional)`, `npm install ${PACKAGE} --no-save, then npm run setup:librdkafka`);

let missing = missingPackages();
if (missing.length > 0) {
  const canApt = mayInstall && process.getuid?.() === 0 && have('apt-get');
  if (!canApt) {
    giveUp(
      `the build needs ${missing.join(' ')}`,
      `${process.getuid?.() === 0 ? '' : 'sudo '}apt-get install -y ${missing.join(' ')} && npm run setup:librdkafka`,
    );
  }
  say(`installing the build packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const apt = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (apt.status !== 0) giveUp(`apt-get install ${missing.join(' ')} failed (exit ${apt.status})`, `apt-get install -y ${missing.join(' ')}`);
  missing = missingPackages();
  if (missing.length > 0) giveUp(`still missing after apt-get: ${missing.join(' ')} (headers not on the compiler's include path)`, undefined);
}

// node-gyp: npm's own copy (the one npm uses for every native module); nodedir: npm's config (headers of this Node.js).
const npmDir = process.env.npm_execpath ? path.resolve(path.dirname(process.env.npm_execpath), '..') : '/usr/lib/node_modules/npm';
const nodeGyp = process.env.npm_config_node_gyp ?? path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const env = { ...process.env, CKJS_LINKING: 'dynamic', npm_config_node_gyp: nodeGyp };
if (!env.npm_config_nodedir) {
  const nodedir = spawnSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).stdout?.trim();
  if (nodedir && nodedir !== 'undefined' && nodedir !== 'null') env.npm_config_nodedir = nodedir;
}
const preGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [dir] });
say(`building librdkafka from ${path.relative(root, dir)} (linked to the system libraries; a few minutes on 2 cores)`);
const started = Date.now();
const build = spawnSync(process.execPath, [preGyp, 'install', '--build-from-source'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
if (build.status !== 0) {
  const log = `${build.stdout ?? ''}\n${build.stderr ?? ''}`.split('\n');
  const errors = log.filter((l) => /error|ERR!|not found|No such file/i.test(l)).slice(0, 12);
  for (const line of errors) say(`  ${line}`);
  giveUp(`the build failed (exit ${build.status})`, 'read the lines above; the usual cause is a missing -dev package (see docs/raspberry-pi.md)');
}
if (cross) {
  say(`librdkafka built for ${targetArch} (${Math.round((Date.now() - started) / 1000)} s); it loads only on that CPU: check it there`);
  process.exit(0);
}
const after = loadsVersion();
if (!after.version) giveUp(`built, but it does not load: ${after.error.trim()}`, 'npm run setup:librdkafka after fixing the library named above');
say(`librdkafka ${after.version} built and loads (${Math.round((Date.now() - started) / 1000)} s)`);
