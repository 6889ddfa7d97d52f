// Help and bad flag values: every command shows its own help however it is asked for, and a
// bad value gets a plain message naming the flag, never node's parser's words.
import { describe, expect, test } from 'vitest';
import { runCli } from './helpers/cli.js';

describe('help', () => {
  test.each([
    [['exec', '-h'], 'usage: ironclaw exec'],
    [['exec', '--help'], 'usage: ironclaw exec'],
    [['help', 'exec'], 'usage: ironclaw exec'],
    [['help', 'sandbox', 'create'], 'usage: ironclaw sandbox create'],
    [['sandbox', 'exec', '-h'], 'usage: ironclaw sandbox exec'],
    [['help', 'wrap'], 'usage: ironclaw wrap'],
    [['wrap', '-h'], 'usage: ironclaw wrap'],
  ])('ironclaw %j shows the command help', async (args, usage) => {
    const result = await runCli(args);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith(usage), result.stdout).toBe(true);
  });

  test('-h after -- belongs to the command in the box', async () => {
    const result = await runCli(['exec', '--json', '--', 'echo', '-h']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ stdout: '-h\n' });
  });
});

describe('bad flag values', () => {
  test.each([
    [
      ['exec', '--timeout', '-5s', '--', 'true'],
      /^ironclaw: INVALID_ARGUMENT: invalid --timeout "-5s": a duration must be positive/,
    ],
    [
      ['exec', '--timeout', 'soon', '--', 'true'],
      /invalid --timeout "soon": not a duration; .*30s/,
    ],
    [['exec', '--timeout'], /^ironclaw: --timeout needs a value <duration>/],
    [['exec', '--timeout', '--json', '--', 'true'], /^ironclaw: --timeout needs a value/],
    [['exec', '--memory', '-1g', '--', 'true'], /invalid --memory "-1g": a size must be positive/],
    [
      ['exec', '--memory', '99999999999g', '--', 'true'],
      /invalid --memory "99999999999g": too large/,
    ],
    [['exec', '--pids', '-3', '--', 'true'], /invalid --pids "-3": not a positive whole number/],
    [['exec', '--pids', '1e3', '--', 'true'], /invalid --pids "1e3"/],
    [['sandbox', 'create', '--memory', '-5m'], /invalid --memory "-5m"/],
    [['daemon', '--pool', '-1'], /invalid --pool "-1": use 0 to 64/],
    [['mcp', '--idle-timeout', '-5m'], /invalid --idle-timeout "-5m": a duration must be positive/],
    [['exec', '--json=yes', '--', 'true'], /^ironclaw: --json takes no value/],
    [
      ['exec', '--bogus', '--', 'true'],
      /^ironclaw: unknown option --bogus; `ironclaw exec --help`/,
    ],
  ])('ironclaw %j says what is wrong', async (args, message) => {
    const result = await runCli(args, { env: { IRONCLAW_STATE_DIR: '/nonexistent/ironclaw' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/ambiguous|ERR_PARSE_ARGS|\n\s+at /);
  });
});
