import type { Check } from './errors.js';

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses "512m", "1g", "1048576" (binary units; k/m/g mean KiB/MiB/GiB, as docker does). */
export function parseBytes(text: string, what = 'size'): Check<number> {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = BYTE_UNITS[unit];
  if (!match?.[1] || factor === undefined) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `invalid ${what} ${JSON.stringify(text)}: use a number with an optional unit k, m or g (for example 512m)`,
    };
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `invalid ${what} ${JSON.stringify(text)}: must be positive`,
    };
  }
  return { ok: true, value: bytes };
}

const SECOND_UNITS: Record<string, number> = { '': 1, s: 1, ms: 0.001, m: 60, h: 3600 };

/** Parses "30", "30s", "500ms", "2m" into milliseconds. */
export function parseDuration(text: string, what = 'duration'): Check<number> {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  const factor = SECOND_UNITS[match?.[2]?.toLowerCase() ?? ''];
  if (!match?.[1] || factor === undefined) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `invalid ${what} ${JSON.stringify(text)}: use seconds, or a number with ms, s, m or h (for example 30s)`,
    };
  }
  const ms = Math.round(Number(match[1]) * factor * 1000);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    return {
      ok: false,
      code: 'INVALID_ARGUMENT',
      message: `invalid ${what} ${JSON.stringify(text)}: must be positive`,
    };
  }
  return { ok: true, value: ms };
}

/** Bytes for people: "812 B", "3.4 KiB", "256 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown =
    unit === 0 || value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}
