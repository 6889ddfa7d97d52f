import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IronClawError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { ensureStateDir, persistentStateDir } from '../host/state-dir.js';

/** What the transcript never holds: the model API keys, by value, wherever they would appear. */
const KEY_VARIABLES = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY'] as const;

/**
 * One session's transcript: a JSON-lines file `agent/<id>.jsonl` in the data directory (0600,
 * in a 0700 directory), one line per event (the start, each model turn, each tool result, each
 * approval, the review of the workspace, the end), appended as it happens so a crash keeps what
 * came before. The keys are never written: the loop does not pass them, and any value of theirs
 * in a line is replaced before it is written, in case a model or a tool echoes one.
 */
export class Transcript {
  readonly id: string;
  readonly path: string;
  readonly #secrets: string[];
  #writing: Promise<void> = Promise.resolve();
  #failed: Error | undefined;

  private constructor(id: string, path: string) {
    this.id = id;
    this.path = path;
    this.#secrets = KEY_VARIABLES.map((name) => process.env[name] ?? '').filter(
      (value) => value.length >= 8,
    );
  }

  static async open(env: NodeJS.ProcessEnv = process.env): Promise<Transcript> {
    const id = newId('session');
    const transcript = new Transcript(id, join(await transcriptDir(env), `${id}.jsonl`));
    await appendFile(transcript.path, '', { mode: 0o600, flag: 'wx' });
    return transcript;
  }

  /** The transcript of an earlier session, appended to (its path from `transcriptPath`). */
  static reopen(id: string, path: string): Transcript {
    return new Transcript(id, path);
  }

  /** Appends one event, in order; a failed write is reported by `close`. */
  write(type: string, fields: Record<string, unknown>): void {
    let line = `${JSON.stringify({ at: new Date().toISOString(), type, ...fields })}\n`;
    for (const secret of this.#secrets) line = line.replaceAll(secret, '[redacted]');
    this.#writing = this.#writing.then(
      () =>
        appendFile(this.path, line).catch((error: unknown) => {
          this.#failed ??= error instanceof Error ? error : new Error(String(error));
        }),
      () => undefined,
    );
  }

  /** Waits for every write; throws if one failed, naming the file. */
  async close(): Promise<void> {
    await this.#writing;
    if (this.#failed !== undefined)
      throw new IronClawError(
        'FILE_ERROR',
        `cannot write the transcript ${this.path}: ${this.#failed.message}; check the data directory (IRONCLAW_DATA_DIR)`,
        { cause: this.#failed },
      );
  }
}

/** The directory of the transcripts: `agent/` in the data directory, made 0700 if missing. */
export async function transcriptDir(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = join(await ensureStateDir(persistentStateDir(env)), 'agent');
  return ensureStateDir(dir);
}
