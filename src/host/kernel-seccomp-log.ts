import { closeSync, openSync, readSync, constants as fs } from 'node:fs';
import { type KernelSeccompRecord, parseKmsgSeccomp } from '../core/seccomp/kmsg-record.js';

/** Records beyond this many are not kept: the kernel's ring holds the rest for dmesg. */
const MAX_RECORDS = 32;

/**
 * The kernel's seccomp records since `sinceUs` (CLOCK_MONOTONIC, as process.hrtime.bigint()
 * reads it) for processes of host uid `uid`, from /dev/kmsg; or why they cannot be read (it
 * needs root, or kernel.dmesg_restrict=0). Attribution is by uid and time: a box's processes run
 * as its own host uid, which they share with other boxes of the same uid only.
 */
export function kernelSeccompRecords(sinceUs: number, uid: number): KernelSeccompRecord[] | string {
  let fd: number;
  try {
    fd = openSync('/dev/kmsg', fs.O_RDONLY | fs.O_NONBLOCK);
  } catch (error) {
    return `the kernel's log cannot be read here (${(error as NodeJS.ErrnoException).code ?? 'error'}): see dmesg as root`;
  }
  const found: KernelSeccompRecord[] = [];
  const buffer = Buffer.alloc(8192);
  try {
    for (;;) {
      let length: number;
      try {
        length = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten while we read: go on
        break; // EAGAIN: the end of the ring
      }
      const record = parseKmsgSeccomp(buffer.toString('utf8', 0, length));
      if (record && record.monotonicUs >= sinceUs && record.uid === uid) {
        found.push(record);
        if (found.length >= MAX_RECORDS) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/** Microseconds of CLOCK_MONOTONIC, the clock the kernel stamps /dev/kmsg records with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
