import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';
import { formatIssues } from '../protocol/format-issues.js';
import { actionKey, type RedAction } from './red-action.js';

/**
 * The approvals file: the "always for this project" answers, one exact rule each, in a JSON file
 * the user can read and edit. A rule names a project directory and one action key
 * ("egress pypi.org:443", "tool github/create_issue", "apply /home/u/proj"); it matches that
 * exact key in that exact project, never a prefix or a pattern, so a rule cannot be stretched
 * over a command line it was not given for. The file is read at every check, so an edit (or a
 * deleted rule) counts at once.
 */
const RuleSchema = z.strictObject({
  project: z.string().check(z.regex(/^\//, 'an absolute path')),
  allow: z.string().check(z.regex(/^(egress \S+:\d+|tool \S+\/\S+|apply \/.*)$/)),
  added: z.optional(z.string()),
  by: z.optional(z.string()),
});
const FileSchema = z.strictObject({ rules: z.array(RuleSchema) });
export type ApprovalRule = z.infer<typeof RuleSchema>;

const MAX_FILE_BYTES = 1024 * 1024;

/** $IRONCLAW_APPROVALS, else approvals.json beside the configuration file. */
export function approvalsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRONCLAW_APPROVALS) return env.IRONCLAW_APPROVALS;
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'ironclaw', 'approvals.json');
}

export class ApprovalPolicy {
  readonly path: string;

  constructor(path: string = approvalsPath()) {
    this.path = path;
  }

  /** The rule that allows this action in this project, if any. A broken file allows nothing. */
  async match(action: RedAction, project: string): Promise<ApprovalRule | undefined> {
    const key = actionKey(action);
    return (await this.rules()).find((rule) => rule.project === project && rule.allow === key);
  }

  /** Every rule; a missing file has none, a broken one is an error that names it. */
  async rules(): Promise<ApprovalRule[]> {
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `cannot read the approvals file ${this.path}: ${error.message}`,
      );
    });
    if (text === undefined) return [];
    if (text.length > MAX_FILE_BYTES)
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `the approvals file ${this.path} is larger than ${MAX_FILE_BYTES} bytes; remove rules you no longer need`,
      );
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `the approvals file ${this.path} is not valid JSON (${(error as Error).message}); fix or remove it`,
      );
    }
    const parsed = FileSchema.safeParse(json);
    if (!parsed.success)
      throw new IronClawError(
        'INVALID_ARGUMENT',
        `the approvals file ${this.path} is not valid: ${formatIssues(parsed.error)}`,
      );
    return parsed.data.rules;
  }

  /** Saves "always allow this action's key in this project"; a rule already there is kept. */
  async add(action: RedAction, project: string, by: string): Promise<ApprovalRule> {
    const rules = await this.rules();
    const rule: ApprovalRule = {
      project,
      allow: actionKey(action),
      added: new Date().toISOString(),
      by,
    };
    const existing = rules.find((r) => r.project === project && r.allow === rule.allow);
    if (existing) return existing;
    await writeAtomically(this.path, `${JSON.stringify({ rules: [...rules, rule] }, null, 2)}\n`);
    return rule;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o600, flush: true });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
