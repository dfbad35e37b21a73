// Types of scripts/node-runtime.mjs (plain JS, no build step), for TypeScript under strict mode.

export type Arch = 'x64' | 'arm64';

export const NODE_RUNTIMES: Record<string, Record<Arch, string>>;
export const NODE24: '24.22.3';
export const ARM64_SMOKE_VERSIONS: readonly ['20.20.2', '24.22.3'];
export const ARM64_SYSROOT: string;

export interface NodeRuntime {
  version: string;
  arch: Arch;
  /** The unpacked package: bin/node, include/node. */
  dir: string;
  bin: string;
}

export interface DependencyTree {
  dir: string;
  nodeModules: string;
  runtime: NodeRuntime;
  production: boolean;
  /** Packages with a binding.gyp, all checked to load with the runtime. */
  nativePackages: string[];
  /** How long the `npm ci` and checks took when the tree was made. */
  seconds: number;
  /** Folders of target libraries its native modules link (TARGET_LIBRARIES); pass to nodeCommand. */
  libraryPath: string[];
}

export const TARGET_LIBRARIES: Record<string, { debs: string[]; env: Record<string, string> }>;
export function packagesNeedingTargetLibraries(lock: Buffer | string, production: boolean): string[];
export function ensureArm64Libraries(debs: string[]): Promise<{ root: string; env: Record<string, string>; libraryPath: string[] }>;

export function hostArch(): Arch;
export function ensureNodeRuntime(version: string, arch?: Arch): Promise<NodeRuntime>;
export function nodeCommand(runtime: NodeRuntime, libraryPath?: string[]): string[];
export function crossBuildEnv(target: Arch): Record<string, string>;
export function nativePackages(nodeModules: string): string[];
export function elfMachine(file: string): number;
export function nativeLoadCheck(packages: string[]): string;
export function installInputsHash(manifest: Buffer | string, lock: Buffer | string): string;
export function ensureDependencyTree(options: {
  version: string;
  arch?: Arch;
  production?: boolean;
  log?: (line: string) => void;
}): Promise<DependencyTree>;
export function copyCheckout(targetDir: string, nodeModules: string): void;
