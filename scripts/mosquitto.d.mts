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
export const SHIPPED_MOSQUITTO_CONF: string;
export function mosquittoConfigLines(file: string): string[];
export type MosquittoProfile = 'test' | 'stock' | 'shipped';
export function startMosquitto(options: { port?: number; dataDir: string; persistence?: boolean; profile?: MosquittoProfile; extraConfig?: string[] }): Promise<MosquittoHandle>;
