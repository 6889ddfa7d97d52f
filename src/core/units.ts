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

/** A refusal of a value the user gave, naming the option and the value as given. */
function invalidValue(what: string, text: string): (why: string) => Check<number> {
  return (why) => ({
    ok: false,
    code: 'INVALID_ARGUMENT',
    message: `invalid ${what} ${JSON.stringify(text)}: ${why}`,
  });
}

/** Parses "512m", "1g", "1048576" (binary units; k/m/g mean KiB/MiB/GiB, as docker does). */
export function parseBytes(text: string, what = 'size'): Check<number> {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = BYTE_UNITS[unit];
  const invalid = invalidValue(what, text);
  if (!match?.[1] || factor === undefined)
    return invalid(
      text.trim().startsWith('-')
        ? 'a size must be positive, for example 512m'
        : 'not a size; use a number with an optional unit k, m or g (for example 512m or 2g)',
    );
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) return invalid('too large');
  if (bytes <= 0) return invalid('a size must be positive, for example 512m');
  return { ok: true, value: bytes };
}

/** Bytes in the largest binary unit that keeps a whole-ish number: 1 KiB, 24 MiB, 1.5 GiB. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}

const SECOND_UNITS: Record<string, number> = { '': 1, s: 1, ms: 0.001, m: 60, h: 3600 };

/** Parses "30", "30s", "500ms", "2m" into milliseconds. */
export function parseDuration(text: string, what = 'duration'): Check<number> {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  const factor = SECOND_UNITS[match?.[2]?.toLowerCase() ?? ''];
  const invalid = invalidValue(what, text);
  if (!match?.[1] || factor === undefined)
    return invalid(
      text.trim().startsWith('-')
        ? 'a duration must be positive, for example 30s or 5m'
        : 'not a duration; use seconds, or a number with ms, s, m or h (for example 30s or 5m)',
    );
  const ms = Math.round(Number(match[1]) * factor * 1000);
  if (!Number.isSafeInteger(ms)) return invalid('too long');
  if (ms <= 0) return invalid('a duration must be positive, for example 30s or 5m');
  return { ok: true, value: ms };
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * An age, as retention and `--since` take it: a number of days ("30d"), or a duration as
 * parseDuration reads it ("12h"). Days are for ages only: no timeout is that long.
 */
export function parseAge(text: string, what = 'age'): Check<number> {
  const days = /^(\d+(?:\.\d+)?)\s*d$/i.exec(text.trim());
  if (!days?.[1]) return parseDuration(text, what);
  const ms = Math.round(Number(days[1]) * DAY_MS);
  if (!Number.isSafeInteger(ms) || ms <= 0)
    return invalidValue(what, text)('an age must be positive and sane, for example 30d or 12h');
  return { ok: true, value: ms };
}
