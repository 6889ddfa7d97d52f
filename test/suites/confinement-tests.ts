import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { expectCode } from '../support/expect-code.js';
import type { SuiteContext } from './suite-context.js';

/** Names and paths from a client are hostile: ids and file paths stay inside their bounds. */
export function defineConfinementTests(ctx: SuiteContext): void {
  describe('ids', () => {
    test.each(['../etc', 'UPPER', '', '-leading-dash', 'a/b', 'x'.repeat(64)])(
      'createSandbox({ id: %j }) rejects with INVALID_ID',
      async (id) => {
        await expectCode(() => ctx.create({ id }), 'INVALID_ID');
      },
    );
  });

  describe('file paths', () => {
    let box: Sandbox;
    beforeAll(async () => {
      box = await ctx.create();
      const setup = await box.exec(
        'mkdir -p /tmp/inside && echo inside > /tmp/inside/file && ' +
          'ln -s /etc /workspace/link && ln -s /etc/passwd /workspace/passwd-link && ln -s /tmp/inside /workspace/ok-link && ' +
          'ln -s /dev/shm/escaped /workspace/dangling',
      );
      expect(setup.exitCode, setup.stderr.toString()).toBe(0);
    });
    afterAll(async () => {
      await box?.destroy();
    });

    test('lexical traversal is refused with PATH_OUTSIDE_SANDBOX', async () => {
      await expectCode(() => box.writeFile('../../etc/x', 'x'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.readFile('/etc/passwd'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.readFile('/workspace/../etc/passwd'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.list('/'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.stat('/proc/self/environ'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.remove('/usr', { recursive: true }), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.readFile('/workspace/a\0b'), 'PATH_OUTSIDE_SANDBOX');
      expect((await box.exec(['test', '-e', '/etc/x'])).exitCode).toBe(1);
    });

    test('a symlink in /workspace pointing to /etc is refused with PATH_OUTSIDE_SANDBOX', async () => {
      await expectCode(() => box.readFile('/workspace/link/passwd'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.readFile('/workspace/passwd-link'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.writeFile('/workspace/link/planted', 'x'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.list('/workspace/link'), 'PATH_OUTSIDE_SANDBOX');
      await expectCode(() => box.stat('/workspace/link/passwd'), 'PATH_OUTSIDE_SANDBOX');
    });

    test('a symlink that stays inside the file roots works (the refusal is not blanket)', async () => {
      expect((await box.readFile('/workspace/ok-link/file')).toString()).toBe('inside\n');
      await box.writeFile('/workspace/ok-link/new', 'via link');
      expect((await box.readFile('/tmp/inside/new')).toString()).toBe('via link');
    });

    test('writeFile through a dangling symlink does not create its target outside the file roots', async () => {
      // /dev/shm is writable in the box but is not one of the file roots (/workspace, /tmp).
      const outcome = await box.writeFile('/workspace/dangling', 'escaped').then(
        () => 'written',
        (error: unknown) => (error as { code?: string }).code,
      );
      const target = await box.exec(['test', '-e', '/dev/shm/escaped']);
      expect(target.exitCode, 'the write followed the link to /dev/shm/escaped').toBe(1);
      expect(outcome).toBe('PATH_OUTSIDE_SANDBOX');
    });
  });
}
