// The TCP fault proxy of the fault suite (scripts/fault-proxy.mjs) against a real echo server on loopback:
// pass forwards both ways, blackhole swallows without closing, reset sends RST, and modes switch on open links.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../scripts/fault-proxy.mjs';
import { waitFor } from './support/wait.js';

type Proxy = Awaited<ReturnType<typeof startFaultProxy>>;

describe('fault proxy', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function echoThroughProxy(): Promise<{ proxy: Proxy; client: net.Socket; received: () => string; closed: () => { error?: string } | undefined }> {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined); // the reset test resets this side too
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const address = server.address() as net.AddressInfo;
    const proxy = await startFaultProxy({ target: { port: address.port } });
    cleanups.push(() => proxy.close());
    const client = net.connect(proxy.port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    let data = '';
    let end: { error?: string } | undefined;
    client.on('data', (chunk: Buffer) => (data += chunk.toString()));
    client.on('error', (err: NodeJS.ErrnoException) => (end = { error: err.code }));
    client.on('close', () => (end ??= {}));
    await new Promise((resolve) => client.once('connect', resolve));
    return { proxy, client, received: () => data, closed: () => end };
  }

  it('forwards both ways in pass mode', async () => {
    const { client, received } = await echoThroughProxy();
    client.write('hello');
    await waitFor('the echo', () => received() === 'hello');
  });

  it('blackhole drops what is sent without closing the connection; pass forwards again afterwards', async () => {
    const { proxy, client, received, closed } = await echoThroughProxy();
    client.write('a');
    await waitFor('the first echo', () => received() === 'a');
    proxy.setMode({ mode: 'blackhole' });
    client.write('lost');
    await waitFor('the proxy swallowed the bytes', () => proxy.stats.dropped === 4);
    proxy.setMode({ mode: 'pass' });
    client.write('b');
    await waitFor('the echo after the blackhole', () => received().endsWith('b'));
    expect(received()).toBe('ab');
    expect(closed()).toBeUndefined();
  });

  it('reset ends open connections with a reset (ECONNRESET), not a clean close', async () => {
    const { proxy, client, received, closed } = await echoThroughProxy();
    client.write('x');
    await waitFor('the echo', () => received() === 'x');
    proxy.setMode({ mode: 'reset', everyMs: 0 });
    const end = await waitFor('the connection reset', () => closed());
    expect(end.error).toBe('ECONNRESET');
    expect(proxy.stats.resets).toBe(1);
  });

  it('latency and bandwidth modes still deliver everything, in order', async () => {
    const { proxy, client, received } = await echoThroughProxy();
    proxy.setMode({ mode: 'latency', latencyMs: 50 });
    for (let i = 0; i < 20; i++) client.write(`${i},`);
    proxy.setMode({ mode: 'bandwidth', bytesPerSecond: 2000 });
    for (let i = 20; i < 40; i++) client.write(`${i},`);
    const expected = Array.from({ length: 40 }, (_, i) => `${i},`).join('');
    await waitFor('all bytes echoed', () => received().length >= expected.length, { timeoutMs: 30_000 });
    expect(received()).toBe(expected);
  });
});
