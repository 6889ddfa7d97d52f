/** O_CLOEXEC as /proc/<pid>/fdinfo reports it in its octal `flags:` line. */
const O_CLOEXEC = 0o2000000;

/**
 * True when an fdinfo text says the descriptor is inherited across exec. Node opens every
 * descriptor of its own close-on-exec, so one without the flag came from our parent and would
 * leak into every box we start (a directory descriptor there is a way out of the mount
 * namespace).
 */
export function isInheritable(fdinfo: string): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(fdinfo)?.[1];
  return flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0;
}
