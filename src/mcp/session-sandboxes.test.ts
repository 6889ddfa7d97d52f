// Real boxes (bwrap): a session's registry of sandboxes, its binding and its clean-up.
import { afterAll, describe, expect, test } from 'vitest';
import { stderrLogger } from './logger.js';
import { SandboxSource } from '../runtime/sandbox-source.js';
import { SessionSandboxes } from './session-sandboxes.js';

const log = stderrLogger({ level: 'warn' });
const source = new SandboxSource({ driver: 'bwrap', poolSize: 0, rootBoxUid: 65534, log });
const open: SessionSandboxes[] = [];

function session(options: { idleMs?: number; maxSandboxes?: number; onIdle?: () => void } = {}) {
  const sandboxes = new SessionSandboxes({
    source,
    log,
    idleMs: options.idleMs ?? 60_000,
    maxSandboxes: options.maxSandboxes ?? 4,
    ...(options.onIdle ? { onIdle: options.onIdle } : {}),
  });
  open.push(sandboxes);
  return sandboxes;
}

afterAll(async () => {
  await Promise.all(open.map((sandboxes) => sandboxes.close()));
  await source.close();
});

const create = (sandboxes: SessionSandboxes) => sandboxes.create({ defaultTimeoutSeconds: 5 });

describe('SessionSandboxes', () => {
  test("ids are unguessable and reach only their own session's boxes", async () => {
    const mine = session();
    const theirs = session();
    const entry = await create(mine);
    expect(entry.sandbox.id).toMatch(/^sb-[0-9a-f]{20}$/);
    expect(mine.get(entry.sandbox.id).sandbox).toBe(entry.sandbox);
    expect(() => theirs.get(entry.sandbox.id)).toThrow(
      expect.objectContaining({ code: 'SANDBOX_NOT_FOUND' }) as unknown,
    );
    expect(() => mine.get('sb-00000000000000000000')).toThrow(/no such sandbox/);
    expect(mine.list().map((e) => e.sandbox.id)).toEqual([entry.sandbox.id]);
    expect(theirs.list()).toEqual([]);
    await mine.destroy(entry.sandbox.id);
    expect(entry.sandbox.destroyed).toBe(true);
    expect(() => mine.get(entry.sandbox.id)).toThrow(/no such sandbox/);
  });

  test("a session holds at most maxSandboxes: a limit the caller's own sandboxes fill is its fault", async () => {
    const sandboxes = session({ maxSandboxes: 1 });
    await create(sandboxes);
    await expect(create(sandboxes)).rejects.toMatchObject({
      code: 'SANDBOX_LIMIT',
      fault: 'request',
      message: expect.stringContaining('sandbox_destroy') as unknown,
    });
  });

  test('a one-shot box counts against the limit while it lives, then is destroyed', async () => {
    const sandboxes = session({ maxSandboxes: 1 });
    const lent = await sandboxes.oneShot({}, async (sandbox) => {
      // Slots taken by calls in progress are a passing shortage, not the caller's fault.
      await expect(create(sandboxes)).rejects.toMatchObject({
        code: 'SANDBOX_LIMIT',
        fault: 'capacity',
        message: expect.stringContaining('retry') as unknown,
      });
      expect((await sandbox.exec('echo lent')).stdout.toString()).toBe('lent\n');
      return sandbox;
    });
    expect(lent.destroyed).toBe(true);
    expect(sandboxes.list()).toEqual([]);
    await expect(
      sandboxes.oneShot({}, () => Promise.reject(new Error('the call failed'))),
    ).rejects.toThrow('the call failed');
    await create(sandboxes);
  });

  test('closing the session destroys its boxes; it takes no new ones', async () => {
    const sandboxes = session();
    const [a, b] = await Promise.all([create(sandboxes), create(sandboxes)]);
    await sandboxes.close();
    expect([a.sandbox.destroyed, b.sandbox.destroyed]).toEqual([true, true]);
    expect(sandboxes.list()).toEqual([]);
    await expect(create(sandboxes)).rejects.toMatchObject({ code: 'SANDBOX_CLOSED' });
  });

  test('an idle session loses its boxes; a running call keeps it alive', async () => {
    let idled = 0;
    const sandboxes = session({ idleMs: 300, onIdle: () => idled++ });
    const entry = await sandboxes.use(() => create(sandboxes));
    await sandboxes.use(() => entry.sandbox.exec(['sleep', '0.6']));
    expect(entry.sandbox.destroyed).toBe(false);
    expect(idled).toBe(0);
    // The expiry is due 300 ms after the call; its callback is the event waited for.
    await expect.poll(() => idled).toBe(1);
    expect(entry.sandbox.destroyed).toBe(true);
    expect(idled).toBe(1);
    expect(() => sandboxes.get(entry.sandbox.id)).toThrow(/no such sandbox/);
  });
});
