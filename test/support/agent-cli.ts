import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, runCli } from '../helpers/cli.js';
import type { FakeLlm } from './fake-llm.js';

/** The API key the agent tests give; it must never show up in a file the session wrote. */
export const KEY = 'sk-test-0123456789-secret';

/** The environment that points `ironclaw agent` at a fake model API, in a data directory of its own. */
export async function agentEnv(
  llm: FakeLlm,
  provider: 'openai' | 'anthropic' = 'openai',
  options: { data?: string; config?: unknown } = {},
): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv =
    provider === 'openai'
      ? { OPENAI_BASE_URL: `${llm.url}/v1`, OPENAI_API_KEY: KEY }
      : { ANTHROPIC_BASE_URL: llm.url, ANTHROPIC_API_KEY: KEY };
  env.IRONCLAW_DATA_DIR = options.data ?? (await mkdtemp(join(tmpdir(), 'ironclaw-agent-data-')));
  if (options.config !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-agent-config-'));
    env.IRONCLAW_CONFIG = join(dir, 'config.json');
    await writeFile(env.IRONCLAW_CONFIG, JSON.stringify(options.config));
  }
  return env;
}

/** Runs `ironclaw agent ARGS` with that environment. */
export function agentCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCli(['agent', ...args], { env });
}

/** The session id and transcript path a run printed. */
export function sessionOf(stderr: string): { id: string; path: string } {
  return {
    id: /agent: session (\S+)/.exec(stderr)?.[1] ?? 'no session printed',
    path: /agent: transcript (\S+)/.exec(stderr)?.[1] ?? 'no transcript printed',
  };
}

/** The events of a transcript, parsed. */
export function events(text: string): ({ type: string } & Record<string, unknown>)[] {
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string } & Record<string, unknown>);
}
