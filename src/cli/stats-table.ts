import { formatBytes } from '../core/units.js';

interface Row {
  id: string;
  driver: string;
  stats?:
    | {
        memoryBytes: number;
        memoryLimitBytes: number | null;
        pids: number;
        pidsLimit: number | null;
        cpuSeconds: number;
      }
    | undefined;
  why?: string | undefined;
}

/** `sandbox stats` as a table: use against limit, as `docker stats` shows it. */
export function formatStats(rows: readonly Row[]): string {
  const lines = [['SANDBOX', 'DRIVER', 'MEMORY / LIMIT', 'MEM %', 'PIDS / LIMIT', 'CPU TIME']];
  for (const row of rows) {
    const stats = row.stats;
    if (!stats) {
      lines.push([row.id, row.driver, `-- (${row.why ?? 'not counted'})`, '', '', '']);
      continue;
    }
    const limit = stats.memoryLimitBytes;
    lines.push([
      row.id,
      row.driver,
      `${formatBytes(stats.memoryBytes)} / ${limit === null ? 'none' : formatBytes(limit)}`,
      limit === null ? '--' : `${((100 * stats.memoryBytes) / limit).toFixed(1)}%`,
      `${stats.pids} / ${stats.pidsLimit ?? 'none'}`,
      `${stats.cpuSeconds.toFixed(2)} s`,
    ]);
  }
  const widths = lines[0]?.map((_, column) =>
    Math.max(...lines.map((line) => (line[column] ?? '').length)),
  );
  return lines
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths?.[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}
