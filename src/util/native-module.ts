/**
 * better-sqlite3 is compiled for one Node.js ABI (NODE_MODULE_VERSION) and one CPU. When the node that runs the
 * gateway is not the one its dependencies were installed with — Node upgraded (apt, NodeSource) after `npm ci`,
 * node_modules copied from another machine — loading fails with a dlopen error that names neither the cause nor
 * the fix, and would be reported as a buffer permission problem. This names both.
 */
import { GatewayError, errorMessage } from '../errors.js';

/** Text of the loader errors that mean "compiled for another Node or CPU", not "file missing or unreadable". */
const FOREIGN_BUILD = /NODE_MODULE_VERSION|invalid ELF header|wrong ELF class|ELF load command|cannot open shared object file|Exec format error|undefined symbol/;

/**
 * @returns GW_NATIVE_MODULE for a native module of `packageName` that does not fit this node, else undefined
 *   (the caller reports its own error).
 */
export function nativeModuleError(err: unknown, packageName: string): GatewayError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);
  if (code !== 'ERR_DLOPEN_FAILED' && !FOREIGN_BUILD.test(message)) return undefined;
  const builtFor = /NODE_MODULE_VERSION (\d+)/.exec(message)?.[1];
  const file = /'([^']+\.node)'/.exec(message)?.[1] ?? /(\/\S+\.node)\b/.exec(message)?.[1];
  const appDir = file?.includes('/node_modules/') ? file.slice(0, file.indexOf('/node_modules/')) : undefined;
  const running = `Node.js ${process.version} on ${process.platform}-${process.arch}, ABI ${process.versions.modules}`;
  return new GatewayError(
    'GW_NATIVE_MODULE',
    `${packageName} does not load on this ${running}${builtFor ? `: it was built for ABI ${builtFor}` : ''} — its compiled part was ` +
      `installed for another Node.js version or CPU. Reinstall the dependencies with this node: rerun \`sudo systemd/install.sh\` ` +
      `(it reinstalls them when the Node version changed), or run \`npm rebuild ${packageName}\`${appDir ? ` in ${appDir}` : ''}`,
    { details: [message.split('\n').join(' ')], cause: err },
  );
}
