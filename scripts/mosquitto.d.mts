export interface MosquittoHandle {
  port: number;
  url: string;
  pid: number | undefined;
  logFile: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  logTail(): string;
}
export function freePort(): Promise<number>;
export function isPortOpen(port: number, host?: string, timeoutMs?: number): Promise<boolean>;
export function mosquittoBinary(): string;
export function startMosquitto(options: { port?: number; dataDir: string; persistence?: boolean; extraConfig?: string[] }): Promise<MosquittoHandle>;
