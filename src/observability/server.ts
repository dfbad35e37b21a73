/**
 * The observability HTTP listener (node:http, no framework): /metrics, /healthz, /readyz, /api/status and the
 * status page (static files shipped in src/observability/static, no CDN, no build step).
 *
 * With a token configured every endpoint requires it, as `Authorization: Bearer TOKEN` (scrapers, curl) or as
 * the password of HTTP Basic (browsers prompt for it; the user name is ignored). Compared in constant time.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Routes {
  metrics(): Promise<{ contentType: string; body: string }>;
  healthz(): { ok: boolean; body: unknown };
  readyz(): { ok: boolean; body: unknown };
  status(): unknown;
}

interface StaticFile {
  type: string;
  body: Buffer;
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

/**
 * The folder of the page files: next to this module when run from src (tests), or src/observability/static of
 * the package when run from dist (tsc does not copy non-TypeScript files).
 */
export function staticFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'static'), join(here, '..', '..', 'src', 'observability', 'static')];
  return candidates.find((c) => existsSync(join(c, 'index.html'))) ?? (candidates[0] as string);
}

function loadStaticFiles(folder: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const [path, { file, type }] of Object.entries(STATIC_FILES)) {
    try {
      files.set(path, { type, body: readFileSync(join(folder, file)) });
    } catch {
      // a missing page file leaves /metrics and the health endpoints working; the page answers 404
    }
  }
  return files;
}

export interface ServerOptions {
  host: string;
  port: number;
  /** The token value, or undefined for no authentication (loopback only, enforced by the config schema). */
  token: string | undefined;
  routes: Routes;
  onError: (err: unknown) => void;
}

export class ObservabilityServer {
  readonly #options: ServerOptions;
  readonly #tokenDigest: Buffer | undefined;
  #files = new Map<string, StaticFile>();
  #server: Server | undefined;

  constructor(options: ServerOptions) {
    this.#options = options;
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  /** Listens; rejects with the socket error (EADDRINUSE, EACCES) when it cannot. */
  async listen(): Promise<AddressInfo> {
    this.#files = loadStaticFiles(staticFolder());
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#options.onError(err);
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.end();
      });
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#options.onError(err));
    this.#server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="edge-telemetry-gateway", charset="UTF-8"');
      send(res, 401, 'text/plain; charset=utf-8', 'authentication required: Authorization: Bearer TOKEN (http.token)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    const routes = this.#options.routes;
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await routes.metrics();
        send(res, 200, contentType, body, req.method === 'HEAD');
        return;
      }
      case '/healthz': {
        const { ok, body } = routes.healthz();
        sendJson(res, ok ? 200 : 503, body, req.method === 'HEAD');
        return;
      }
      case '/readyz': {
        const { ok, body } = routes.readyz();
        sendJson(res, ok ? 200 : 503, body, req.method === 'HEAD');
        return;
      }
      case '/api/status':
        sendJson(res, 200, routes.status(), req.method === 'HEAD');
        return;
      default: {
        const file = this.#files.get(path);
        if (!file) {
          send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
          return;
        }
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        send(res, 200, file.type, file.body, req.method === 'HEAD');
      }
    }
  }

  #authorized(req: IncomingMessage): boolean {
    const expected = this.#tokenDigest;
    if (expected === undefined) return true;
    const header = req.headers.authorization ?? '';
    let presented: string | undefined;
    const bearer = /^Bearer\s+(.+)$/i.exec(header);
    if (bearer) presented = bearer[1];
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (basic) {
      const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      presented = colon >= 0 ? decoded.slice(colon + 1) : undefined;
    }
    if (presented === undefined) return false;
    // Digests have equal length, so the comparison time does not depend on the token.
    return timingSafeEqual(digest(presented.trim()), expected);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headOnly = false): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (!res.hasHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-store');
  res.end(headOnly ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headOnly: boolean): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headOnly);
}
