import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { BIN, runCli } from './helpers/cli.js';

const run = promisify(execFile);
const has = async (program: string): Promise<boolean> =>
  run('sh', ['-c', `command -v ${program}`]).then(
    () => true,
    () => false,
  );
const [hasZsh, hasFish] = await Promise.all([has('zsh'), has('fish')]);

/** Loads `ironclaw completion bash` in bash and completes the words given (the last one partly). */
async function completeInBash(words: string[]): Promise<string[]> {
  const script = `source <("${process.execPath}" "${BIN}" completion bash)
COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_ironclaw; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await run('bash', ['-c', script]);
  return stdout.split('\n').filter(Boolean);
}

describe('ironclaw completion', () => {
  test('the bash script loads in bash and completes commands, subcommands and options', async () => {
    expect(await completeInBash(['ironclaw', 'sand'])).toEqual(['sandbox']);
    expect(await completeInBash(['ironclaw', 'sandbox', 'cr'])).toEqual(['create']);
    expect(await completeInBash(['ironclaw', 'sandbox', 'st'])).toEqual(['stats']);
    expect(await completeInBash(['ironclaw', 'exec', '--dr'])).toEqual(['--driver']);
    expect(await completeInBash(['ironclaw', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
  });

  test('it names every sandbox subcommand the help lists', async () => {
    const help = await runCli(['sandbox', '--help']);
    const listed = [...help.stdout.matchAll(/^ {2}(\S+) /gm)].map((match) => match[1]);
    expect((await completeInBash(['ironclaw', 'sandbox', ''])).sort()).toEqual(listed.sort());
  });

  test.skipIf(!hasZsh)(
    `the zsh script loads in zsh${hasZsh ? '' : ' (skipped: no zsh here)'}`,
    async () => {
      const { stderr } = await run('zsh', [
        '-c',
        `source <("${process.execPath}" "${BIN}" completion zsh)`,
      ]);
      expect(stderr).toBe('');
    },
  );

  test.skipIf(!hasFish)(
    `the fish script loads in fish${hasFish ? '' : ' (skipped: no fish here)'}`,
    async () => {
      const { stdout } = await run('fish', [
        '-c',
        `"${process.execPath}" "${BIN}" completion fish | source; complete -C 'ironclaw sand'`,
      ]);
      expect(stdout).toContain('sandbox');
    },
  );

  test('an unknown shell is a usage error', async () => {
    const result = await runCli(['completion', 'tcsh']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bash|zsh|fish');
  });
});
