import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BIN, REPO } from './helpers/cli.js';

/**
 * `ironclaw exec` is measured against node's own start-up (npm run bench): what its start-up
 * loads is part of the product. A plain one-shot run hands the process over to its box from
 * dist/cli/main.cjs; the supervised exec (with the other drivers) and the other commands (the
 * daemon client, MCP, the image builder) load on demand from bundles of their own. These tests
 * keep a static import from dragging any of them back into the start-up unnoticed.
 */
interface StartUp {
  /** HANDOVER: the process replaced itself with the box; EXIT: node ran to its exit. */
  ending: 'HANDOVER' | 'EXIT';
  loaded: string[];
  code: number | null;
}

function startUp(args: string[]): Promise<StartUp> {
  return new Promise((resolve, reject) => {
    const preload = join(REPO, 'test', 'fixtures', 'report-hand-over.cjs');
    const child = spawn(process.execPath, ['--require', preload, BIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const match = /^(HANDOVER|EXIT) (.*)$/m.exec(stderr);
      if (match?.[1] === undefined || match[2] === undefined) {
        reject(new Error(`exit ${code}, no report: ${stderr}`));
      } else {
        const ending = match[1] === 'HANDOVER' ? 'HANDOVER' : 'EXIT';
        resolve({ ending, loaded: JSON.parse(match[2]) as string[], code });
      }
    });
  });
}

const HEAVY = ['crypto', 'zlib', 'http', 'https', 'http2', 'worker_threads'];
const hasExecve = typeof process.execve === 'function';

test.skipIf(!hasExecve)(
  `a plain one-shot run hands over to its box, having loaded no child_process, streams or fs/promises${hasExecve ? '' : ' [skipped: this node has no process.execve]'}`,
  async () => {
    const run = await startUp(['exec', '--', 'true']);
    expect(run).toMatchObject({ ending: 'HANDOVER', code: 0 });
    for (const module of ['child_process', 'net', 'stream', 'fs/promises', ...HEAVY]) {
      expect(run.loaded, `the hand-over loaded node:${module}`).not.toContain(module);
    }
  },
);

test('a supervised one-shot run (--timeout) loads no compression or HTTP modules', async () => {
  const run = await startUp(['exec', '--timeout', '1m', '--', 'true']);
  expect(run).toMatchObject({ ending: 'EXIT', code: 0 });
  expect(run.loaded).toContain('child_process');
  // It records its box in the audit store, whose records are hash-chained: crypto it needs.
  for (const module of HEAVY.filter((name) => name !== 'crypto')) {
    expect(run.loaded, `ironclaw exec loaded node:${module}`).not.toContain(module);
  }
});

describe('the start-up bundle dist/cli/main.cjs', () => {
  const main = join(REPO, 'dist', 'cli', 'main.cjs');

  test('holds the command line and the hand-over only: no dependency, driver or runtime', async () => {
    const map = JSON.parse(await readFile(`${main}.map`, 'utf8')) as { sources: string[] };
    const sources = map.sources.map((source) => source.replace(/^(\.\.\/)+/, ''));
    expect(sources).toContain('src/drivers/bwrap/hand-over.ts');
    for (const source of sources) {
      expect(source, 'a source outside src/cli, src/host, src/core and the bwrap driver').toMatch(
        /^src\/(cli|host|core|drivers\/bwrap)\//,
      );
      expect(source).not.toMatch(/gvisor|qemu|firecracker|image|cgroup|mcp|daemon|bwrap\/box/);
    }
    // 23 KB when this was written, against 258 KB when it bundled every command's code.
    expect((await stat(main)).size).toBeLessThan(48 * 1024);
  });

  test('loads the supervised exec and the other commands from bundles of their own', async () => {
    const text = await readFile(main, 'utf8');
    expect(text).toContain('("./exec-command.cjs")');
    expect(text).toContain('import("./more.js")');
    expect(text).not.toContain('require("node:child_process")');
  });
});
