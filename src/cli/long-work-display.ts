import { reportLongWork, setLongWorkReporter } from '../host/long-work.js';
import { ProgressLine, progressMode } from './progress-line.js';

/**
 * Shows this CLI process's long work (a guest image built on first use, a VM's first template)
 * on stderr as progress: lines on a terminal or in a log, nothing with `--json`, whose reader
 * wants the one object. Returns the display, for the command's own steps.
 */
export function showLongWork(json: boolean): ProgressLine {
  const line = new ProgressLine(progressMode(json));
  setLongWorkReporter((message) => line.step(`ironclaw: ${message}`));
  return line;
}

/** Shows a `progress` event of a daemon request (its long work) as this process's own. */
export function longWorkEvent(event: string, data: unknown): void {
  const message = (data as { message?: unknown } | null)?.message;
  if (event === 'progress' && typeof message === 'string') reportLongWork(message);
}
