import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExecOptions, ExecOutput, Sandbox } from '../../src/index.js';
import { expectCode } from '../support/expect-code.js';
import { eventually } from '../support/host-processes.js';
import type { SuiteContext } from './suite-context.js';

/** exec: output, exit status, stdin, env/cwd, argv vs shell, concurrency and the output cap. */
export function defineExecTests(ctx: SuiteContext): void {
  describe('exec', () => {
    let box: Sandbox;
    beforeAll(async () => {
      box = await ctx.create();
    });
    afterAll(async () => {
      await box?.destroy();
    });

    /**
     * Waits for the event "after a pause" stands for: the agent says it has made the process
     * for the next command ahead (an agent that makes none says nothing, and is not waited on).
     */
    const madeAhead = async (sandbox: Sandbox): Promise<void> => {
      const ready = await eventually(
        async () => (await sandbox.ping()).execReady,
        (answer) => answer !== false,
        60_000,
      );
      expect(ready, 'the agent never made the next process ahead').not.toBe(false);
    };

    test('captures stdout and stderr separately, and mirrors them to the callbacks', async () => {
      const seen = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const result = await box.exec('echo out1; echo err1 >&2; echo out2; echo err2 >&2', {
        onStdout: (chunk) => seen.stdout.push(chunk),
        onStderr: (chunk) => seen.stderr.push(chunk),
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout.toString()).toBe('out1\nout2\n');
      expect(result.stderr.toString()).toBe('err1\nerr2\n');
      expect(Buffer.concat(seen.stdout)).toEqual(result.stdout);
      expect(Buffer.concat(seen.stderr)).toEqual(result.stderr);
    });

    test('streams stdout while the command runs, chunk by chunk, in order', async () => {
      // Lock-step: the next input line is sent only after the answer to the previous one reached
      // onStdout, so passing proves output arrives before the command ends, as separate chunks.
      const words = ['one', 'two', 'three', 'four'];
      const chunks: string[] = [];
      let wake: (() => void) | undefined;
      async function* lines(): AsyncGenerator<Uint8Array> {
        for (const word of words) {
          yield Buffer.from(`${word}\n`);
          while (!chunks.join('').includes(`got ${word}\n`))
            await new Promise<void>((resolve) => (wake = resolve));
        }
      }
      const result = await box.exec('while read -r line; do echo "got $line"; done', {
        stdin: lines(),
        timeoutMs: 10_000,
        onStdout: (chunk) => {
          chunks.push(chunk.toString());
          wake?.();
        },
      });
      expect(result.timedOut).toBe(false);
      expect(chunks).toEqual(words.map((word) => `got ${word}\n`));
      expect(result.stdout.toString()).toBe(chunks.join(''));
    });

    test('reports exit codes 0, 3 and 255', async () => {
      const codes = [];
      for (const command of ['true', 'exit 3', 'exit 255'])
        codes.push((await box.exec(command)).exitCode);
      expect(codes).toEqual([0, 3, 255]);
    });

    test('reports death by signal: kill -TERM $$ gives signal SIGTERM and exitCode null', async () => {
      const result = await box.exec(['sh', '-c', 'kill -TERM $$; echo not reached']);
      expect(result).toMatchObject({ exitCode: null, signal: 'SIGTERM', timedOut: false });
      expect(result.stdout.toString()).toBe('');
    });

    test('a missing command exits 127, as argv and through the shell', async () => {
      const direct = await box.exec(['no-such-command-ironclaw']);
      expect(direct.exitCode).toBe(127);
      expect(direct.stderr.toString()).toContain('no-such-command-ironclaw');
      const shell = await box.exec('no-such-command-ironclaw');
      expect(shell.exitCode).toBe(127);
    });

    test('a file without execute permission exits 126, as argv and through the shell', async () => {
      await box.writeFile('/workspace/not-executable.sh', '#!/bin/sh\necho ran\n', { mode: 0o644 });
      const direct = await box.exec(['/workspace/not-executable.sh']);
      expect(direct.exitCode).toBe(126);
      expect(direct.stdout.toString()).toBe('');
      const shell = await box.exec('/workspace/not-executable.sh');
      expect(shell.exitCode).toBe(126);
      expect(shell.stdout.toString()).toBe('');
    });

    test('stdin bytes reach cat unchanged (all 256 byte values)', async () => {
      const bytes = Uint8Array.from({ length: 1024 }, (_, index) => index % 256);
      const result = await box.exec(['cat'], { stdin: bytes });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toEqual(Buffer.from(bytes));
      const text = await box.exec(['wc', '-c'], { stdin: 'hello\n' });
      expect(text.stdout.toString().trim()).toBe('6');
    });

    test('stdin can be a stream: 2 MiB from a Node Readable (an AsyncIterable) arrive whole', async () => {
      const chunk = Buffer.alloc(64 * 1024);
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      for (let index = 0; index < 32; index++) {
        const piece = Buffer.from(chunk.map((_, offset) => (offset * 31 + index) % 251));
        chunks.push(piece);
        hash.update(piece);
      }
      // A Node stream yields every chunk at once: input that reaches the box before the command
      // has started must not be lost.
      const result = await box.exec(['sha256sum'], {
        stdin: Readable.from(chunks),
        timeoutMs: 10_000,
      });
      expect(result).toMatchObject({ timedOut: false, exitCode: 0 });
      expect(result.stdout.toString().split(' ')[0]).toBe(hash.digest('hex'));
    });

    test('applies env and cwd; a missing cwd is rejected with INVALID_ARGUMENT', async () => {
      const result = await box.exec('printf "%s|%s|%s\\n" "$GREETING" "$PWD" "$PATH"; pwd', {
        env: { GREETING: 'hello world' },
        cwd: '/tmp',
      });
      expect(result.exitCode).toBe(0);
      const [values, pwd] = result.stdout.toString().split('\n');
      const [greeting, envPwd, path] = (values ?? '').split('|');
      expect(greeting).toBe('hello world');
      expect(envPwd).toBe('/tmp');
      expect(path).toContain('/usr/bin'); // env adds to the box's environment, it does not replace it
      expect(pwd).toBe('/tmp');
      expect((await box.exec('pwd')).stdout.toString()).toBe('/workspace\n');
      await expectCode(() => box.exec('pwd', { cwd: '/no/such/dir' }), 'INVALID_ARGUMENT');
    });

    test('argv runs without a shell; a string runs through sh -c', async () => {
      const argv = await box.exec(['echo', '$HOME', '*', ';', 'echo', 'injected']);
      expect(argv.stdout.toString()).toBe('$HOME * ; echo injected\n');
      const shell = await box.exec('echo $HOME; echo second');
      expect(shell.stdout.toString()).toBe('/tmp\nsecond\n');
    });

    // After 50 ms of idleness the agent makes the next exec's process ahead of time
    // (src/guest/exec-stubs.ts). Each request below runs twice: after a pause, in that process,
    // then while another exec runs (none is made then), spawned fresh. Everything a command can
    // see of itself must be the same; only the process's age tells them apart, and shows that
    // the process made ahead was used.
    const probe = [
      'read -r up _ < /proc/uptime',
      'set -- "$0" "$@" $(cat /proc/$$/stat)', // the comm of sh has no spaces
      'shift $(($# - 52))', // keep the 52 fields of stat
      'echo "age $((${up%.*}${up#*.} - ${22}))"', // centiseconds since the process started
      '[ "$5" = $$ ] && [ "$6" = $$ ] && echo "session and group leader"',
      // The environment the process was given, before sh changed anything (sorted: a process
      // made ahead gets the variables in the shell's order).
      'tr "\\0" "\\n" < /proc/$$/environ | LC_ALL=C sort; umask; pwd -P; echo /proc/self/fd/*',
      // Read by the shell itself: while it waits for a child, its signal mask is not its own.
      'while read -r key value; do case $key in',
      '  Uid:|Gid:|Groups:|Cap*|NoNewPrivs:|Seccomp:|SigBlk:|SigIgn:) echo "$key $value";;',
      'esac; done < /proc/self/status',
      'ulimit -a; IFS= read -r line; echo "stdin: $line"; exit 7',
    ].join('\n');

    /** The request run ahead and fresh: the probe's output without its first line, and ages. */
    async function aheadAndFresh(
      options: ExecOptions,
    ): Promise<{ ahead: string; fresh: string; aheadAge: number; freshAge: number }> {
      const run = () =>
        box.exec(['sh', '/workspace/probe.sh', 'a b', "it's", 'new\nline', ''], {
          stdin: 'from the host\n',
          ...options,
        });
      // The event first: the agent says it has made the process (under emulation, or on a
      // busy machine, that can take longer than any fixed pause); then the pause under test,
      // which makes that process older than a fresh one by the pause, however slow the start.
      await madeAhead(box);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const early = await run();
      const busy = box.exec(['sleep', '0.5']);
      const late = await run();
      await busy;
      const split = (result: ExecOutput): { age: number; rest: string } => {
        expect(result.stderr.toString()).toBe('');
        expect(result.exitCode).toBe(7);
        const [first = '', ...rest] = result.stdout.toString().split('\n');
        return { age: Number(/^age (\d+)$/.exec(first)?.[1]), rest: rest.join('\n') };
      };
      const [a, f] = [split(early), split(late)];
      return { ahead: a.rest, fresh: f.rest, aheadAge: a.age, freshAge: f.age };
    }

    // A VM guest does make the process ahead (its ping says execReady), but the check cannot
    // see it there: the process's age is what tells, and the seccomp loader (python3) that every
    // VM command starts through took 3 to 6 s to start under QEMU's emulation here, varying by
    // more than the pause, so a made-ahead process was measured younger than a fresh one.
    const inVm = ctx.driver === 'qemu' || ctx.driver === 'firecracker';
    const notAhead = inVm
      ? " [skipped: in a VM guest the process age this check relies on is swamped by the seccomp loader's start-up under emulation (3-6 s, varying by more than the pause)]"
      : '';
    test.skipIf(inVm)(
      `an exec after a pause runs in a process made ahead of time, the same as a fresh one${notAhead}`,
      async () => {
        // From a file: a script this long would not go through a stub (see exec-stubs.ts).
        await box.writeFile('/workspace/probe.sh', `${probe}\n`);
        for (const options of [
          { cwd: '/tmp', env: { GREETING: 'hello world', QUOTED: '\'"$HOME`' } },
          { env: { OLDPWD: '/workspace', PWD: '/elsewhere' } },
          { cwd: 'sub/..', env: { OLDPWD: '/tmp' } },
          {},
        ]) {
          if (options.cwd === 'sub/..') await box.exec(['mkdir', '-p', '/workspace/sub']);
          const { ahead, fresh, aheadAge, freshAge } = await aheadAndFresh(options);
          expect(ahead, JSON.stringify(options)).toBe(fresh);
          expect(ahead).toContain('session and group leader\n');
          expect(ahead).toContain('stdin: from the host\n');
          // Made during the pause, at least half a second before it ran; the fresh one just now.
          expect(aheadAge, JSON.stringify(options)).toBeGreaterThanOrEqual(freshAge + 50);
        }
      },
    );

    const boxEnv =
      ctx.driver === 'bwrap' ? '' : ` [skipped: the ${ctx.driver} driver takes no box environment]`;
    test.skipIf(boxEnv !== '')(
      `variables the shell sets itself keep the values the box was given, after a pause too${boxEnv}`,
      async () => {
        await using own = await ctx.create({ env: { IFS: ',', OPTIND: '3', PS4: 'x' } });
        for (const ahead of [true, false]) {
          if (ahead) await madeAhead(own);
          const result = await own.exec(['sh', '-c', 'tr "\\0" "\\n" < /proc/$$/environ']);
          const when = ahead ? 'in a process made ahead' : 'at once after';
          expect(result.stdout.toString().split('\n'), when).toEqual(
            expect.arrayContaining(['IFS=,', 'OPTIND=3', 'PS4=x']),
          );
        }
      },
    );

    test('after a pause, a missing or non-executable command still exits 127 or 126, worded as ever', async () => {
      await box.writeFile('/workspace/plain.txt', 'not a program\n', { mode: 0o644 });
      for (const [argv, code] of [
        [['no-such-command-ironclaw'], 127],
        [['/workspace/plain.txt'], 126],
        [['/usr'], 126],
      ] as const) {
        await madeAhead(box);
        const result = await box.exec([...argv]);
        expect(result.exitCode, argv[0]).toBe(code);
        expect(result.stderr.toString(), argv[0]).toMatch(new RegExp(`^ironclaw: ${argv[0]}: `));
      }
    });

    test('a NUL byte in argv, the shell line, env or cwd is rejected with INVALID_ARGUMENT, never cut short', async () => {
      for (const attempt of [
        () => box.exec(['echo', 'before\0after']),
        () => box.exec('echo before\0after'),
        () => box.exec(['true'], { env: { NAME: 'before\0after' } }),
        () => box.exec(['true'], { env: { 'NA=ME': 'value' } }),
        () => box.exec(['true'], { cwd: '/tmp\0/x' }),
      ]) {
        await madeAhead(box); // refused by a process made ahead too
        await expectCode(attempt, 'INVALID_ARGUMENT');
      }
    });

    test('a command that exits while a background child holds its output still returns, output whole', async () => {
      // The child keeps stdout open for ten minutes: the exec must not wait for it (the test's
      // own timeout would end first), and what the command wrote before exiting must all arrive.
      const pidFile = `/tmp/holder-${Math.random().toString(36).slice(2)}`;
      const result = await box.exec([
        'sh',
        '-c',
        `seq 1 20000; sleep 600 & echo $! > ${pidFile}; echo done >&2`,
      ]);
      // The holder goes, so that it does not outlive this test in the shared box.
      await box.exec(['sh', '-c', `kill $(cat ${pidFile})`]);
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: false });
      const lines = result.stdout.toString().trimEnd().split('\n');
      expect([lines.length, lines[0], lines.at(-1)]).toEqual([20000, '1', '20000']);
      expect(result.stderr.toString()).toBe('done\n');
    });

    test('several execs run concurrently on one sandbox', async () => {
      // A rendezvous: each command waits for the other's file, which only works if both run at
      // once. Run one after the other, both would time out instead.
      const tag = Math.random().toString(36).slice(2);
      const meet = (mine: string, theirs: string): string =>
        `touch /tmp/${tag}-${mine}; while [ ! -e /tmp/${tag}-${theirs} ]; do sleep 0.02; done; echo ${mine}`;
      const [left, right, ...rest] = await Promise.all([
        box.exec(meet('left', 'right'), { timeoutMs: 20_000 }),
        box.exec(meet('right', 'left'), { timeoutMs: 20_000 }),
        ...[1, 2, 3, 4].map((n) =>
          box.exec(['sh', '-c', `echo job${n}; echo job${n}-err >&2; exit ${n}`]),
        ),
      ]);
      expect(left).toMatchObject({ timedOut: false, exitCode: 0 });
      expect(right).toMatchObject({ timedOut: false, exitCode: 0 });
      expect(left?.stdout.toString()).toBe('left\n');
      expect(right?.stdout.toString()).toBe('right\n');
      expect(rest.map((r) => [r.exitCode, r.stdout.toString(), r.stderr.toString()])).toEqual(
        [1, 2, 3, 4].map((n) => [n, `job${n}\n`, `job${n}-err\n`]),
      );
    });

    test('caps output: truncated, an explicit marker, and the dropped bytes counted', async () => {
      const result = await box.exec("head -c 100000 /dev/zero | tr '\\0' a", {
        maxOutputBytes: 1000,
      });
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toBe(true);
      expect(result.droppedBytes).toBe(99_000);
      const text = result.stdout.toString();
      expect(text.slice(0, 1000)).toBe('a'.repeat(1000));
      expect(text.slice(1000)).toMatch(/^\n\[ironclaw: output truncated at 1000 bytes[^\n]*\]\n$/);
      const small = await box.exec('echo fits', { maxOutputBytes: 1000 });
      expect(small).toMatchObject({ truncated: false, droppedBytes: 0 });
    });
  });
}
