/**
 * The id to answer a bad message with. JSON-RPC asks for null only when the id cannot be
 * detected; a client whose request failed validation, or was too big, is waiting on its id, and
 * an answer with null leaves that call hanging until it times out (the MCP conformance suite and
 * the Inspector both flag it). These find the id whenever the message shows it.
 */
export type ErrorId = string | number | null;

/** The id of a parsed message: a string or number `id` of a single (not batched) object. */
export function requestIdOf(value: unknown): ErrorId {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('id' in value))
    return null;
  const id = value.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/** The id of a JSON-RPC body given as text or bytes; null when it is not JSON or shows none. */
export function requestIdOfText(text: string): ErrorId {
  try {
    return requestIdOf(JSON.parse(text));
  } catch {
    return null;
  }
}

/** How much of each end of an oversized message is kept for `requestIdFromEdges`. */
export const EDGE_BYTES = 256;

const ID_VALUE = '(-?\\d{1,15}|"(?:[^"\\\\]|\\\\.){0,128}")';
/** `"id": X }` closing the message, optionally followed by the jsonrpc member. */
const ID_LAST = new RegExp(
  `"id"\\s*:\\s*${ID_VALUE}\\s*(?:,\\s*"jsonrpc"\\s*:\\s*"2\\.0"\\s*)?\\}\\s*$`,
);

/**
 * Best effort for a message too big to keep: the top-level id from its first bytes (wherever
 * it stands before the big value) or from its last (when it is written last, as the TypeScript
 * SDK does). A nested "id" (in params) is never taken for the message's.
 */
export function requestIdFromEdges(head: string, tail: string): ErrorId {
  const last = ID_LAST.exec(tail)?.[1];
  if (last !== undefined) return JSON.parse(last) as string | number;
  return idFromHead(head);
}

/** Scans the start of a JSON object for a top-level "id" member whose value is whole. */
function idFromHead(head: string): ErrorId {
  const open = /^\s*\{/.exec(head);
  if (!open) return null;
  let at = open[0].length;
  let depth = 1;
  let keyNext = true;
  while (at < head.length) {
    const char = head[at];
    if (char === '"') {
      const end = stringEnd(head, at);
      if (end === -1) return null;
      if (depth === 1 && keyNext) {
        const colon = /^\s*:\s*/.exec(head.slice(end + 1));
        if (!colon) return null;
        const valueAt = end + 1 + colon[0].length;
        if (head.slice(at, end + 1) === '"id"') return valueOf(head.slice(valueAt));
        keyNext = false;
        at = valueAt;
        continue;
      }
      at = end + 1;
      continue;
    }
    if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') depth--;
    else if (char === ',' && depth === 1) keyNext = true;
    if (depth === 0) return null;
    at++;
  }
  return null;
}

/** Index of the quote closing the string that opens at `start`, or -1 if it does not close. */
function stringEnd(text: string, start: number): number {
  for (let at = start + 1; at < text.length; at++) {
    if (text[at] === '\\') at++;
    else if (text[at] === '"') return at;
  }
  return -1;
}

/** A number or string id at the start of `text`, only if it is followed by its delimiter. */
function valueOf(text: string): ErrorId {
  const match = new RegExp(`^${ID_VALUE}\\s*[,}]`).exec(text);
  return match?.[1] === undefined ? null : (JSON.parse(match[1]) as string | number);
}
