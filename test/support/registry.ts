import http from 'node:http';
import net from 'node:net';
import { startSchemaRegistry, type RegistryHandle } from '../../scripts/schema-registry.mjs';
import { findFreePort } from '../../scripts/java-service.mjs';

/**
 * One Apicurio Registry for the test file that calls it (beforeAll), on a free port; the start-up time is logged
 * so the cost stays visible. Only the test files that need a registry start one.
 */
export async function startTestRegistry(): Promise<RegistryHandle> {
  const t0 = Date.now();
  const registry = await startSchemaRegistry({ port: await findFreePort(), dataDir: `${process.env.TMPDIR ?? '/tmp'}/etg-registry-${process.pid}-${t0}` });
  console.log(`[registry] Apicurio Registry ${registry.url} up in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${registry.pid}, log ${registry.logFile})`);
  return registry;
}

/**
 * A TCP relay to a real service on a port of its own, to take that service away from a client and give it back
 * (listen/close) while the service itself keeps running.
 */
export class TcpRelay {
  readonly port: number;
  readonly #target: number;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();

  constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  static async reserve(target: number): Promise<TcpRelay> {
    return new TcpRelay(await findFreePort(), target);
  }

  listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops listening and cuts every relayed connection. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A request to the registry's Confluent-compatible API, for arranging and checking what it holds. */
export async function registryRequest<T>(url: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * An HTTP gate in front of the real registry that demands HTTP Basic credentials and records every request, so
 * the gateway's registry authentication is proven on the wire. (Apicurio's own basic authentication exchanges the
 * credentials at an OIDC server, which these tests do not run.)
 */
export class BasicAuthGate {
  readonly requests: { method: string; path: string; authorized: boolean }[] = [];
  readonly #target: number;
  readonly #expected: string;
  #server: http.Server | undefined;
  port = 0;

  constructor(target: number, username: string, password: string) {
    this.#target = target;
    this.#expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      const authorized = req.headers.authorization === this.#expected;
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', authorized });
      if (!authorized) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="schema registry"' });
        res.end(JSON.stringify({ error_code: 40101, message: 'Unauthorized' }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.authorization;
      const upstream = http.request({ host: '127.0.0.1', port: this.#target, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (err) => {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(String(err));
      });
      req.pipe(upstream);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
