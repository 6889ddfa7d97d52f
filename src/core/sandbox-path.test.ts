import { describe, expect, it } from 'vitest';
import { isWithin, resolveSandboxPath, WORKSPACE } from './sandbox-path.js';

describe('resolveSandboxPath', () => {
  it.each([
    ['a', '/workspace/a'],
    ['src/main.ts', '/workspace/src/main.ts'],
    ['./a/./b/', '/workspace/a/b'],
    ['a/b/../c', '/workspace/a/c'],
    ['', WORKSPACE],
    ['.', WORKSPACE],
    ['/workspace', WORKSPACE],
    ['/workspace/../workspace/a', '/workspace/a'],
    ['//workspace//a', '/workspace/a'],
    ['/tmp', '/tmp'],
    ['/tmp/x', '/tmp/x'],
    ['../tmp/x', '/tmp/x'],
  ])('resolves %j to %s', (path, resolved) => {
    expect(resolveSandboxPath(path)).toEqual({ ok: true, value: resolved });
  });

  it.each([
    ['../etc/passwd'],
    ['/etc/passwd'],
    ['a/../../etc/passwd'],
    ['/workspace/../etc'],
    ['/'],
    ['..'],
    ['/workspace2/a'],
    ['/tmpfoo'],
    ['/proc/self/root/etc/passwd'],
  ])('rejects %j with PATH_OUTSIDE_SANDBOX', (path) => {
    expect(resolveSandboxPath(path)).toMatchObject({ ok: false, code: 'PATH_OUTSIDE_SANDBOX' });
  });

  it('rejects a NUL byte, which the kernel would cut the path at', () => {
    const check = resolveSandboxPath('a\0../../etc/passwd');
    expect(check).toMatchObject({ ok: false, code: 'PATH_OUTSIDE_SANDBOX' });
    expect(check.ok ? '' : check.message).toContain('NUL byte');
    expect(resolveSandboxPath('/tmp/x\0')).toMatchObject({ ok: false });
  });

  it('says where the path led and where paths may go', () => {
    const check = resolveSandboxPath('../etc/passwd');
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.message).toContain('resolves to /etc/passwd');
    expect(check.message).toContain('/workspace or /tmp');
  });
});

describe('isWithin', () => {
  it('matches the root itself and paths below it, not siblings sharing a prefix', () => {
    expect(isWithin('/workspace', '/workspace')).toBe(true);
    expect(isWithin('/workspace/a/b', '/workspace')).toBe(true);
    expect(isWithin('/workspace-other', '/workspace')).toBe(false);
    expect(isWithin('/workspaces/a', '/workspace')).toBe(false);
    expect(isWithin('/', '/workspace')).toBe(false);
  });
});
