import { describe, expect, test } from 'vitest';
import { IronClawError } from '../core/errors.js';
import { type Logger, stderrLogger } from './logger.js';
import { guarded, LimitError, toolFailure, toolOk } from './tool-result.js';

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: stderrLogger({ level: 'debug', write: (line) => lines.push(line) }), lines };
}

const textOf = (result: { content: unknown[] }): string =>
  (result.content[0] as { type: 'text'; text: string }).text;

describe('tool results', () => {
  test('a success carries the structured value and text', () => {
    expect(toolOk({ a: 1 }, 'one')).toEqual({
      content: [{ type: 'text', text: 'one' }],
      structuredContent: { a: 1 },
    });
  });

  test("an error caused by the call names its code and stays the caller's", () => {
    const { log, lines } = capture();
    const result = toolFailure(new IronClawError('PATH_OUTSIDE_SANDBOX', 'path x is outside'), {
      tool: 'sandbox_read_file',
      log,
    });
    expect(result).toEqual({
      content: [{ type: 'text', text: 'PATH_OUTSIDE_SANDBOX: path x is outside' }],
      isError: true,
      _meta: { 'ironclaw/error': { code: 'PATH_OUTSIDE_SANDBOX', fault: 'request' } },
    });
    expect(lines).toEqual([]);
  });

  test("IronClaw's own failures say so and are logged", () => {
    const { log, lines } = capture();
    const result = toolFailure(new IronClawError('SANDBOX_START_FAILED', 'bwrap: no'), {
      tool: 'sandbox_create',
      log,
    });
    expect(textOf(result)).toBe(
      'SANDBOX_START_FAILED: bwrap: no (a failure of the IronClaw server, not of the arguments given)',
    );
    expect(result._meta).toEqual({
      'ironclaw/error': { code: 'SANDBOX_START_FAILED', fault: 'server' },
    });
    expect(lines.join('')).toContain('sandbox_create: SANDBOX_START_FAILED: bwrap: no');
  });

  test('a limit filled by calls in progress is a capacity fault, to retry; one the caller fills is its own', () => {
    const { log } = capture();
    const busy = toolFailure(new LimitError('all 8 slots are in use', 'capacity'), {
      tool: 'run',
      log,
    });
    expect(textOf(busy)).toMatch(/^SANDBOX_LIMIT: all 8 slots are in use \(.*retry later\)$/);
    expect(busy._meta).toEqual({ 'ironclaw/error': { code: 'SANDBOX_LIMIT', fault: 'capacity' } });
    const full = toolFailure(new LimitError('holds 8 sandboxes', 'request'), { tool: 'run', log });
    expect(textOf(full)).toBe('SANDBOX_LIMIT: holds 8 sandboxes');
    expect(full._meta).toEqual({ 'ironclaw/error': { code: 'SANDBOX_LIMIT', fault: 'request' } });
  });

  test('an unexpected exception is INTERNAL: logged with its stack, reported without internals', () => {
    const { log, lines } = capture();
    const result = toolFailure(new TypeError('cannot read x of undefined at /srv/secret.js'), {
      tool: 'run',
      log,
    });
    expect(textOf(result)).toMatch(/^INTERNAL: IronClaw failed unexpectedly while running run/);
    expect(textOf(result)).not.toContain('/srv/secret.js');
    expect(result._meta).toEqual({ 'ironclaw/error': { code: 'INTERNAL', fault: 'server' } });
    expect(lines.join('')).toContain('TypeError: cannot read x of undefined');
  });

  test('guarded turns a throw into a tool error and passes results through', async () => {
    const { log } = capture();
    const ok = toolOk({}, 'fine');
    expect(await guarded({ tool: 't', log }, async () => ok)).toBe(ok);
    const failed = await guarded({ tool: 't', log }, async () => {
      throw new IronClawError('SANDBOX_NOT_FOUND', 'no such sandbox');
    });
    expect(failed.isError).toBe(true);
  });
});
