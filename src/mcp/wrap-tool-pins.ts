import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { IronClawError } from '../core/errors.js';

/**
 * Rug-pull detection. A wrapped server's tool names, descriptions and schemas reach the model as
 * instructions, so a server that changes them after the user looked (an update, or a server
 * that behaves until trusted) can turn a harmless tool into a hostile one. Pins are kept per
 * tool name, one digest each, in the state directory, in one file per wrapped command line: a
 * tool seen before whose definition changed is flagged until the user accepts it. A name not
 * seen before is pinned when first listed, and a pinned name the server leaves out is kept:
 * servers list different tools to different clients (server-everything shows its elicitation,
 * sampling and roots tools only to clients that declared those capabilities), and neither is
 * a tool that changed under a name the user or the client already trusts.
 *
 * Annotations are pinned too: they are hints to the client, but they decide what IronClaw asks
 * for (a destructiveHint makes a tool red), so a server that drops one between runs has changed
 * the tool. Pin files of version 1 were written before annotations were pinned: their digests
 * are kept as `v1:<digest>` and upgraded, not flagged, when the tool is next listed with the
 * same name, title, description and schemas (its annotations are then pinned as listed).
 */

/** What of a tool is pinned: everything a model reads, and the annotations a client acts on. */
const PinnedToolSchema = z.looseObject({
  name: z.string(),
  title: z.optional(z.unknown()),
  description: z.optional(z.unknown()),
  inputSchema: z.optional(z.unknown()),
  outputSchema: z.optional(z.unknown()),
  annotations: z.optional(z.unknown()),
});
/** Version 2 pins annotations; version 1 did not. */
const PIN_VERSION = 2;
/** How a digest carried over from a version 1 file is marked until it is upgraded. */
const LEGACY = 'v1:';

const ToolListSchema = z.looseObject({
  tools: z.array(PinnedToolSchema),
  nextCursor: z.optional(z.string()),
});
export type ListedTool = z.infer<typeof PinnedToolSchema>;

const PinFileSchema = z.object({
  version: z.union([z.literal(1), z.literal(PIN_VERSION)]),
  argv: z.array(z.string()),
  acceptedAt: z.string(),
  tools: z.record(z.string(), z.string()),
});
type PinFile = z.infer<typeof PinFileSchema> & { version: typeof PIN_VERSION };

/** The tools of a tools/list result, or undefined when the result is not a tool list. */
export function listedTools(result: unknown): { tools: ListedTool[]; more: boolean } | undefined {
  const parsed = ToolListSchema.safeParse(result);
  return parsed.success
    ? { tools: parsed.data.tools, more: parsed.data.nextCursor !== undefined }
    : undefined;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function toolDigest(tool: ListedTool): string {
  const { name, title, description, inputSchema, outputSchema, annotations } = tool;
  return sha256(
    canonicalJson({ name, title, description, inputSchema, outputSchema, annotations }),
  );
}

/** The digest a version 1 pin file holds: the same, without annotations. */
function legacyDigest(tool: ListedTool): string {
  const { name, title, description, inputSchema, outputSchema } = tool;
  return sha256(canonicalJson({ name, title, description, inputSchema, outputSchema }));
}

/** Whether `pin` (a digest, or a version 1 one marked as such) still describes `tool`. */
function pinMatches(pin: string, tool: ListedTool): boolean {
  return pin.startsWith(LEGACY)
    ? pin.slice(LEGACY.length) === legacyDigest(tool)
    : pin === toolDigest(tool);
}

export interface ToolChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

/**
 * How `tools` differ from what was pinned. Only `changed` is an alarm; `removed` only means
 * something for a whole list, and then only that this client was not shown those tools.
 */
export function compareTools(
  pinned: Readonly<Record<string, string>>,
  tools: readonly ListedTool[],
): ToolChanges {
  const seen = new Set(tools.map((tool) => tool.name));
  const pinOf = (tool: ListedTool): string | undefined => pinned[tool.name];
  return {
    added: tools.filter((tool) => pinOf(tool) === undefined).map((tool) => tool.name),
    changed: tools
      .filter((tool) => {
        const pin = pinOf(tool);
        return pin !== undefined && !pinMatches(pin, tool);
      })
      .map((tool) => tool.name),
    removed: Object.keys(pinned).filter((name) => !seen.has(name)),
  };
}

/**
 * The listed tools pinned by a version 1 file and unchanged since: to be pinned again, now with
 * their annotations. Not a change: the user accepted these, and nothing they were shown moved.
 */
export function legacyUpgrades(
  pinned: Readonly<Record<string, string>>,
  tools: readonly ListedTool[],
): ListedTool[] {
  return tools.filter((tool) => {
    const pin = pinned[tool.name];
    return pin?.startsWith(LEGACY) === true && pinMatches(pin, tool);
  });
}

/** `<stateDir>/wrap/<sha256 of the argv>.json`. */
export function pinFilePath(stateDir: string, argv: readonly string[]): string {
  return join(stateDir, 'wrap', `${sha256(JSON.stringify(argv))}.json`);
}

export async function readPins(path: string): Promise<PinFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = PinFileSchema.safeParse(value);
  const legacy = parsed.success && parsed.data.version === 1;
  if (!parsed.success || (legacy && Object.values(parsed.data.tools).some(isMarked)))
    // Fail closed: an unreadable pin must not turn into "trust whatever comes first".
    throw new IronClawError(
      'INVALID_ARGUMENT',
      `the accepted tool list in ${path} is damaged; run \`ironclaw wrap --accept-tools … -- <command>\` to review and accept the current list again`,
    );
  if (!legacy) return { ...parsed.data, version: PIN_VERSION };
  const tools = Object.fromEntries(
    Object.entries(parsed.data.tools).map(([name, digest]) => [name, `${LEGACY}${digest}`]),
  );
  return { ...parsed.data, version: PIN_VERSION, tools };
}

/** A version 1 file holds plain digests only. */
function isMarked(digest: string): boolean {
  return digest.startsWith(LEGACY);
}

/** One digest per tool name. */
export function toolDigests(tools: readonly ListedTool[]): Record<string, string> {
  return Object.fromEntries(tools.map((tool) => [tool.name, toolDigest(tool)]));
}

/** Writes the pin file atomically (temp file, then rename), readable by this user only. */
export async function writePins(
  path: string,
  argv: readonly string[],
  pins: Readonly<Record<string, string>>,
): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  const file: PinFile = {
    version: PIN_VERSION,
    argv: [...argv],
    acceptedAt: new Date().toISOString(),
    tools: { ...pins },
  };
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}
