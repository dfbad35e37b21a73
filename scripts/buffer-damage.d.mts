// Types of scripts/buffer-damage.mjs (plain JS, no build step), for TypeScript under strict mode.

/** Ways to damage a buffer file, each applied to the file at `path` in place. */
export const BUFFER_DAMAGES: Readonly<Record<'truncated' | 'bad-pages' | 'header', (path: string) => void>>;
