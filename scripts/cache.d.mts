// Types of scripts/cache.mjs (plain JS, no build step), for TypeScript under strict mode.

export function fillOnce(
  lockDir: string,
  isComplete: () => boolean | Promise<boolean>,
  fill: () => Promise<void>,
  opts?: { staleMs?: number; timeoutMs?: number },
): Promise<void>;

export function runCommand(
  cmd: string,
  args: string[],
  opts?: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | null; output: string }>;
