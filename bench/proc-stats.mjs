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
