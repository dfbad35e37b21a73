// The V8 heap growing factor the run command applies (src/service/heap-growth.ts): the gateway's default unless
// node was started with its own factor, in any spelling V8 accepts. node:v8 is mocked so no flag of the test
// process changes; what reaches V8 is asserted instead.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const setFlagsFromString = vi.fn<(flags: string) => void>();
vi.mock('node:v8', () => ({ setFlagsFromString }));

const { HEAP_GROWING_PERCENT, applyHeapGrowth, heapGrowthFor } = await import('../src/service/heap-growth.js');

describe('heapGrowthFor', () => {
  it('is the gateway default when node got no factor', () => {
    expect(heapGrowthFor([])).toEqual({ percent: HEAP_GROWING_PERCENT, source: 'gateway' });
    expect(heapGrowthFor(['--max-semi-space-size=2', '--enable-source-maps'])).toEqual({ percent: 50, source: 'gateway' });
  });

  it("keeps node's own factor, with dashes, underscores or a separate value, the last one winning", () => {
    expect(heapGrowthFor(['--heap-growing-percent=20'])).toEqual({ percent: 20, source: 'command line' });
    expect(heapGrowthFor(['--heap_growing_percent=0'])).toEqual({ percent: 0, source: 'command line' });
    expect(heapGrowthFor(['--heap-growing-percent', '75'])).toEqual({ percent: 75, source: 'command line' });
    expect(heapGrowthFor(['--heap-growing-percent=10', '--heap-growing-percent=30'])).toEqual({ percent: 30, source: 'command line' });
  });

  it('ignores a value V8 would not take and other flags that share the prefix', () => {
    expect(heapGrowthFor(['--heap-growing-percent=abc'])).toEqual({ percent: 50, source: 'gateway' });
    expect(heapGrowthFor(['--heap-growing-percent-x=5'])).toEqual({ percent: 50, source: 'gateway' });
  });
});

describe('applyHeapGrowth', () => {
  beforeEach(() => setFlagsFromString.mockClear());

  it('sets the default factor in V8 when node got none', () => {
    expect(applyHeapGrowth([])).toEqual({ percent: 50, source: 'gateway' });
    expect(setFlagsFromString).toHaveBeenCalledTimes(1);
    expect(setFlagsFromString).toHaveBeenCalledWith('--heap-growing-percent=50');
  });

  it("leaves V8 alone when node was started with a factor (the operator's wins)", () => {
    expect(applyHeapGrowth(['--heap-growing-percent=25'])).toEqual({ percent: 25, source: 'command line' });
    expect(setFlagsFromString).not.toHaveBeenCalled();
  });
});
