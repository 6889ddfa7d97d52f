// An exec in a box with egress runs in the process the guest agent made ahead of time
// (src/guest/exec-stubs.ts), as in a box without: the stub starts with the proxy's variables, so
// its script stays short. Seen from the host (bwrap): the command's pid is the stub's.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSandbox, type Sandbox } from '../src/index.js';
import { EGRESS_PORT } from '../src/core/egress-env.js';
import { STUB_ARGV0 } from '../src/guest/exec-stubs.js';
import { pidNamespaceOf, processesInPidNamespace } from './support/host-processes.js';

let box: Sandbox;

beforeAll(async () => {
  box = await createSandbox({ allowNet: ['example.com'] });
});

afterAll(async () => {
  await box.destroy();
});

/** The pid, inside the box, of the stub waiting for the next exec; once the agent says it has one. */
async function waitingStub(): Promise<number> {
  await expect.poll(async () => (await box.ping()).execReady, { timeout: 10_000 }).toBe(true);
  const namespace = await pidNamespaceOf(box.boxPid);
  const argv0 = (pid: number): Promise<string> =>
    readFile(`/proc/${pid}/cmdline`, 'utf8').then(
      (text) => text.split('\0')[0] ?? '',
      () => '',
    );
  const stubs: number[] = [];
  for (const process of await processesInPidNamespace(namespace))
    if ((await argv0(process.pid)) === STUB_ARGV0) stubs.push(process.innerPid);
  expect(stubs).toHaveLength(1);
  return stubs[0]!;
}

const environ = 'echo $$; tr "\\0" "\\n" < /proc/$$/environ | LC_ALL=C sort';

describe('exec stubs in a box with egress (bwrap)', () => {
  test('an exec is served by the stub made ahead, with the proxy variables and its own', async () => {
    const stub = await waitingStub();
    const result = await box.exec(['sh', '-c', environ], { env: { EXTRA: 'extra' } });
    const [pid, ...variables] = result.stdout.toString().trim().split('\n');
    expect(Number(pid)).toBe(stub);
    expect(variables).toContain(`HTTPS_PROXY=http://127.0.0.1:${EGRESS_PORT}`);
    expect(variables).toContain('NODE_USE_ENV_PROXY=1');
    expect(variables).toContain('EXTRA=extra');
  });

  test('the stub gives a command the same environment as a fresh spawn', async () => {
    const stub = await waitingStub();
    // Two at once: one takes the stub, the other is spawned directly (none is made meanwhile).
    const both = await Promise.all(
      [1, 2].map(() => box.exec(['sh', '-c', environ], { env: { GREETING: 'hello world' } })),
    );
    const [first, second] = both.map((result) => result.stdout.toString().trim().split('\n'));
    expect([first?.[0], second?.[0]].map(Number)).toContain(stub);
    expect(first?.slice(1)).toEqual(second?.slice(1));
    expect(first).toContain('GREETING=hello world');
    expect(first).toContain(`ALL_PROXY=socks5h://127.0.0.1:${EGRESS_PORT}`);
  });
});
