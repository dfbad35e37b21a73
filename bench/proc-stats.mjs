// Figures of a running process from /proc (Linux): resident memory now and at its peak, CPU time used so far.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** @param {number} pid @param {'VmRSS' | 'VmHWM'} field @returns {number} MB, NaN once the process is gone */
function statusMb(pid, field) {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** @param {number} pid @returns {number} peak resident set (VmHWM) in MB */
export const peakRssMb = (pid) => statusMb(pid, 'VmHWM');

/** @param {number} pid @returns {number} resident set now (VmRSS) in MB */
export const rssMb = (pid) => statusMb(pid, 'VmRSS');

/**
 * @param {number} pid @param {number} [thread] one thread only (the main thread's id is the pid)
 * @returns {number} user + system CPU seconds used so far (all threads, or the one thread)
 */
export function cpuSeconds(pid, thread) {
  try {
    const file = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * @returns {number} CPU seconds the whole machine spent busy so far, all cores (user, nice, system, irq, softirq of
 * /proc/stat's first line; idle, iowait and steal are not busy time of this machine's processes)
 */
export function machineBusySeconds() {
  try {
    const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Where a machine's CPU goes over a stretch of a benchmark: call with the named processes to watch, then call the
 * returned function at the end. It gives cores used on average (CPU seconds / wall seconds) by the whole machine,
 * by each named process, and by everything else (the consumer that times the row, the OS). `measured` adds CPU
 * seconds counted elsewhere over the same stretch (a load generator that reports its own).
 * @param {Record<string, number | undefined>} pids
 * @returns {(measured?: Record<string, number>) => Record<string, number>}
 */
export function coreShares(pids) {
  const started = performance.now();
  const box0 = machineBusySeconds();
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid === undefined ? NaN : cpuSeconds(pid)]));
  return (measured = {}) => {
    const wall = (performance.now() - started) / 1000;
    const shares = { machine: (machineBusySeconds() - box0) / wall };
    let named = 0;
    for (const [name, pid] of Object.entries(pids)) {
      shares[name] = pid === undefined ? NaN : (cpuSeconds(pid) - cpu0[name]) / wall;
      if (Number.isFinite(shares[name])) named += shares[name];
    }
    for (const [name, seconds] of Object.entries(measured)) {
      shares[name] = seconds / wall;
      if (Number.isFinite(shares[name])) named += shares[name];
    }
    shares.rest = shares.machine - named;
    return shares;
  };
}
