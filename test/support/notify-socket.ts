import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/** One datagram received on the notify socket: receive time (ms since the epoch) and its assignments. */
export interface NotifyMessage {
  t: number;
  fields: Record<string, string>;
}

/*
 * The systemd side of sd_notify for tests: a unix datagram socket that records what arrives. Node cannot bind
 * one, so the Debian python3 (/usr/bin/python3) does, printing one JSON line per datagram. It closes the pipe fds
 * systemd-notify passes with BARRIER=1, exactly as systemd does, so systemd-notify returns.
 */
const RECEIVER = `
import array, json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"listening": True}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % 4])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode("utf-8", "replace")}), flush=True)
`;

export class NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[] = [];
  readonly #child: ChildProcess;

  private constructor(path: string, child: ChildProcess) {
    this.path = path;
    this.#child = child;
  }

  static async listen(): Promise<NotifySocket> {
    const path = join(mkdtempSync(join(tmpdir(), 'etg-notify-')), 'notify.sock');
    const child = spawn('/usr/bin/python3', ['-u', '-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    const socket = new NotifySocket(path, child);
    let listening = false;
    let partial = '';
    const stderr: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const parsed = JSON.parse(line) as { listening?: boolean; t?: number; msg?: string };
        if (parsed.listening) listening = true;
        else if (parsed.t !== undefined && parsed.msg !== undefined) {
          const fields = Object.fromEntries(
            parsed.msg
              .split('\n')
              .filter((l) => l.includes('='))
              .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
          );
          socket.messages.push({ t: parsed.t, fields });
        }
      }
    });
    await waitFor('notify socket receiver', () => {
      if (child.exitCode !== null) throw new Error(`receiver exited: ${stderr.join('')}`);
      return listening;
    }, { timeoutMs: 15_000 });
    return socket;
  }

  /** Messages with the given assignment, e.g. ('READY', '1'), in arrival order. */
  with(key: string, value = '1'): NotifyMessage[] {
    return this.messages.filter((m) => m.fields[key] === value);
  }

  /** Waits until `count` messages with the assignment have arrived; returns the last of them. */
  async waitFor(key: string, value = '1', count = 1, timeoutMs = 30_000): Promise<NotifyMessage> {
    return waitFor(`${count}× ${key}=${value} on the notify socket`, () => this.with(key, value)[count - 1], { timeoutMs });
  }

  close(): void {
    this.#child.kill('SIGKILL');
  }
}
