// A TCP fault proxy for the fault suite and tests: listens on 127.0.0.1, forwards every connection to one target
// (a Kafka listener, Mosquitto) and misbehaves on demand, the way cellular and Wi-Fi links do. Loopback only.
//
//   const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: 1883 } });
//   proxy.port                                  // where clients connect instead of the target
//   proxy.setMode({ mode: 'blackhole' });       // accept, forward nothing either way, never close (half-open)
//   proxy.setMode({ mode: 'latency', latencyMs: 300 });
//   proxy.setMode({ mode: 'bandwidth', bytesPerSecond: 20_000 });
//   proxy.setMode({ mode: 'reset', everyMs: 2000 }); // every connection is reset (RST) after everyMs
//   proxy.setMode({ mode: 'pass' });
//   proxy.resetAll();                           // RST on every open connection now
//   await proxy.close();
//
// Modes apply to open connections at once and to new ones. `onData(direction, chunk, connectionId)` (optional)
// sees every chunk that is forwarded, for wire-level diagnostics ('up' = client → target).
import net from 'node:net';

/**
 * @typedef {{ mode: 'pass' } | { mode: 'blackhole' } | { mode: 'latency', latencyMs: number }
 *   | { mode: 'bandwidth', bytesPerSecond: number } | { mode: 'reset', everyMs: number }} ProxyMode
 */

/**
 * @param {{ target: { host?: string, port: number }, port?: number,
 *           onData?: (direction: 'up' | 'down', chunk: Buffer, connectionId: number) => void }} options
 */
export async function startFaultProxy(options) {
  const target = { host: options.target.host ?? '127.0.0.1', port: options.target.port };
  /** @type {ProxyMode} */
  let mode = { mode: 'pass' };
  /** @type {Set<Link>} */
  const links = new Set();
  let nextId = 1;
  const stats = { connections: 0, resets: 0, bytesUp: 0, bytesDown: 0, dropped: 0 };

  /**
   * One client connection and its upstream. Chunks go through a per-direction queue so latency and bandwidth keep
   * byte order; blackhole drops what arrives (the sender hears nothing back, nothing is closed).
   */
  class Link {
    constructor(/** @type {net.Socket} */ client) {
      this.id = nextId++;
      this.client = client;
      /** @type {net.Socket | undefined} */
      this.upstream = undefined;
      this.born = Date.now();
      /** Chunks waiting to be forwarded, with the time they arrived (latency counts from there). */
      this.queues = { up: /** @type {{ chunk: Buffer, at: number }[]} */ ([]), down: /** @type {{ chunk: Buffer, at: number }[]} */ ([]) };
      this.busy = { up: false, down: false };
      this.closed = false;
      client.setNoDelay(true);
      client.on('data', (chunk) => this.receive('up', chunk));
      client.on('error', () => this.destroy());
      client.on('close', () => this.destroy());
      this.connectUpstream();
      this.armReset();
    }

    connectUpstream() {
      if (mode.mode === 'blackhole' || this.upstream) return;
      const upstream = net.connect(target.port, target.host);
      upstream.setNoDelay(true);
      this.upstream = upstream;
      upstream.on('data', (chunk) => this.receive('down', chunk));
      upstream.on('error', () => this.destroy());
      upstream.on('close', () => this.destroy());
      // Anything that arrived while no upstream existed (blackhole) was dropped on purpose.
    }

    armReset() {
      clearTimeout(this.resetTimer);
      if (mode.mode !== 'reset') return;
      const left = Math.max(0, this.born + mode.everyMs - Date.now());
      this.resetTimer = setTimeout(() => this.reset(), left);
    }

    receive(/** @type {'up' | 'down'} */ direction, /** @type {Buffer} */ chunk) {
      if (this.closed) return;
      if (mode.mode === 'blackhole') {
        stats.dropped += chunk.length;
        return;
      }
      this.queues[direction].push({ chunk, at: Date.now() });
      void this.pump(direction);
    }

    async pump(/** @type {'up' | 'down'} */ direction) {
      if (this.busy[direction]) return;
      this.busy[direction] = true;
      try {
        while (!this.closed && this.queues[direction].length > 0) {
          if (mode.mode === 'blackhole') {
            for (const c of this.queues[direction].splice(0)) stats.dropped += c.chunk.length;
            break;
          }
          const { chunk, at } = /** @type {{ chunk: Buffer, at: number }} */ (this.queues[direction].shift());
          if (mode.mode === 'latency') {
            const wait = at + mode.latencyMs - Date.now();
            if (wait > 0) await sleep(wait);
          } else if (mode.mode === 'bandwidth') {
            await sleep(Math.ceil((chunk.length / mode.bytesPerSecond) * 1000));
          }
          const out = direction === 'up' ? this.upstream : this.client;
          if (!out || this.closed) break;
          options.onData?.(direction, chunk, this.id);
          if (direction === 'up') stats.bytesUp += chunk.length;
          else stats.bytesDown += chunk.length;
          if (!out.write(chunk)) {
            // Backpressure: stop reading the other side until this side drained.
            const from = direction === 'up' ? this.client : this.upstream;
            from?.pause();
            await new Promise((r) => out.once('drain', r));
            from?.resume();
          }
        }
      } finally {
        this.busy[direction] = false;
      }
    }

    /** RST both ways (no FIN): what a NAT or a cellular hand-over does to a connection. */
    reset() {
      if (this.closed) return;
      stats.resets += 1;
      this.closed = true;
      links.delete(this);
      clearTimeout(this.resetTimer);
      this.client.resetAndDestroy();
      this.upstream?.resetAndDestroy();
    }

    destroy() {
      if (this.closed) return;
      this.closed = true;
      links.delete(this);
      clearTimeout(this.resetTimer);
      this.client.destroy();
      this.upstream?.destroy();
    }
  }

  const server = net.createServer((client) => {
    stats.connections += 1;
    links.add(new Link(client));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    get mode() {
      return mode;
    },
    get connections() {
      return links.size;
    },
    /** @param {ProxyMode} next */
    setMode(next) {
      mode = next;
      for (const link of links) {
        link.armReset();
        if (next.mode !== 'blackhole') {
          link.connectUpstream();
          void link.pump('up');
          void link.pump('down');
        }
      }
    },
    resetAll() {
      for (const link of [...links]) link.reset();
    },
    async close() {
      for (const link of [...links]) link.destroy();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
