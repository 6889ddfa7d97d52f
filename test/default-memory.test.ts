// Long-lived sandboxes get a default memory limit (config `limits.memory`, IRONCLAW_MEMORY;
// 2 GiB unless configured) when their creator gives none: from the daemon, from MCP's
// sandbox_create, from the library's defaultMemoryBytes. Where the box can get no cgroup it
// starts without one, as every such box does, and its isolation report says why.
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { detectCgroups } from '../src/host/cgroups.js';
import { createSandbox } from '../src/runtime/create-sandbox.js';
import { BIN, type CliResult, freshStateDir, runCli } from './helpers/cli.js';
import { probeCgroups } from './support/cgroup-probe.js';

const cgroups = await probeCgroups();
const needsCgroups = cgroups.available ? '' : ` (skipped: ${cgroups.reason})`;
const MIB = 1024 ** 2;

interface Created {
  id: string;
  isolation: { layers: Record<string, { on: boolean; detail: string }> };
}

describe.skipIf(!cgroups.available)(`the daemon's default memory limit${needsCgroups}`, () => {
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env });
  const create = async (...args: string[]): Promise<Created> => {
    const result = await cli(['sandbox', 'create', '--json', ...args]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Created;
  };

  beforeAll(async () => {
    env = {
      IRONCLAW_STATE_DIR: await freshStateDir(),
      IRONCLAW_POOL_SIZE: '1',
      IRONCLAW_MEMORY: '64m',
    };
  });

  afterAll(async () => {
    await cli(['daemon', '--stop']);
  });

  test('applies to a sandbox created without --memory, pooled or not', async () => {
    for (const sandbox of [await create(), await create('--id', 'fresh')]) {
      expect(sandbox.isolation.layers.cgroup?.detail).toContain(`memory ${64 * MIB} bytes`);
    }
    const hungry = await cli([
      'sandbox',
      'exec',
      'fresh',
      '--',
      'python3',
      '-c',
      'x = bytearray(256 * 1024 * 1024)',
    ]);
    expect(hungry.code).not.toBe(0);
  });

  test('gives way to --memory', async () => {
    const sandbox = await create('--memory', '128m');
    expect(sandbox.isolation.layers.cgroup?.detail).toContain(`memory ${128 * MIB} bytes`);
  });
});

describe.skipIf(!cgroups.available)(
  `MCP sandbox_create's default memory limit${needsCgroups}`,
  () => {
    let client: Client;

    beforeAll(async () => {
      client = new Client({ name: 'ironclaw-default-memory-test', version: '1.0.0' });
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [BIN, 'mcp'],
          env: { ...process.env, IRONCLAW_POOL_SIZE: '0', IRONCLAW_MEMORY: '96m' },
          stderr: 'pipe',
        }),
      );
    });

    afterAll(async () => {
      await client.close();
    });

    test('applies when the call gives no memory, and gives way to one that does', async () => {
      const detail = async (args: Record<string, unknown>): Promise<string | undefined> => {
        const result = await client.callTool({ name: 'sandbox_create', arguments: args });
        expect(result.isError).toBeFalsy();
        return (result.structuredContent as Pick<Created, 'isolation'>).isolation.layers.cgroup
          ?.detail;
      };
      expect(await detail({})).toContain(`memory ${96 * MIB} bytes`);
      expect(await detail({ memory: '128m' })).toContain(`memory ${128 * MIB} bytes`);
    });
  },
);

describe('the library', () => {
  test('defaultMemoryBytes is the limit where a cgroup can hold it, else reported off', async () => {
    await using sandbox = await createSandbox({ defaultMemoryBytes: 80 * MIB });
    const cgroup = sandbox.isolation.layers.cgroup;
    if ((await detectCgroups()).available) {
      expect(cgroup).toMatchObject({ on: true });
      expect(cgroup?.detail).toContain(`memory ${80 * MIB} bytes`);
    } else {
      // No cgroup: the box starts as every box without one does, and says why.
      expect(cgroup).toMatchObject({ on: false });
      expect(cgroup?.detail.length).toBeGreaterThan(10);
    }
    await using asked = await createSandbox({
      defaultMemoryBytes: 80 * MIB,
      limits: { pids: 64 },
    });
    if ((await detectCgroups()).available)
      expect(asked.isolation.layers.cgroup?.detail).toContain(`memory ${80 * MIB} bytes`);
  });
});
