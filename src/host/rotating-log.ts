import { appendFileSync, renameSync, statSync } from 'node:fs';

/**
 * A log file that never grows past `maxBytes`: when full it becomes `<path>.1` (replacing the
 * previous one) and a new file starts. Two files at most, so a long-lived daemon cannot fill the
 * disk. Writes are synchronous by design: log lines are small and must not be lost on exit.
 */
export function rotatingLog(
  path: string,
  maxBytes = 1024 * 1024,
  options: { stamp?: boolean } = {},
): (line: string) => void {
  let size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  return (line) => {
    // A line of its own format (JSON, say) carries its own time: stamp: false leaves it alone.
    const text = options.stamp === false ? `${line}\n` : `${new Date().toISOString()} ${line}\n`;
    if (size + text.length > maxBytes && size > 0) {
      renameSync(path, `${path}.1`);
      size = 0;
    }
    appendFileSync(path, text, { mode: 0o600 });
    size += Buffer.byteLength(text);
  };
}
