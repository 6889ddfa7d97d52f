import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * An approval token: the server's signature over one pending approval's id, the digest of its
 * exact action and its expiry. Whoever answers (the dashboard, a TTY prompt, an MCP client's
 * elicitation) must hand it back; a client or a model cannot make one (it lacks the key), and
 * the broker takes each only once.
 */
export interface TokenClaims {
  id: string;
  digest: string;
  /** Milliseconds since the epoch. */
  expires: number;
}

export type TokenCheck =
  { ok: true; claims: TokenClaims } | { ok: false; code: 'APPROVAL_FORGED'; message: string };

const VERSION = 'ic1';

export function mintToken(key: Buffer, claims: TokenClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${VERSION}.${body}.${mac(key, body)}`;
}

/** Checks the signature only: expiry, single use and the action are the broker's to check. */
export function readToken(key: Buffer, token: string): TokenCheck {
  const forged = (why: string): TokenCheck => ({
    ok: false,
    code: 'APPROVAL_FORGED',
    message: `the approval token is not one this server issued (${why}); nothing was approved`,
  });
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return forged('malformed');
  const [, body = '', signature = ''] = parts;
  const expected = Buffer.from(mac(key, body));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return forged('bad signature');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return forged('unreadable claims');
  }
  if (!isClaims(claims)) return forged('unreadable claims');
  return { ok: true, claims };
}

function mac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(`${VERSION}.${body}`).digest('base64url');
}

function isClaims(value: unknown): value is TokenClaims {
  if (value === null || typeof value !== 'object') return false;
  const claims = value as Record<string, unknown>;
  return (
    typeof claims.id === 'string' &&
    typeof claims.digest === 'string' &&
    typeof claims.expires === 'number'
  );
}

/** The approval id a token names, unchecked (the broker checks it when the answer comes). */
export function tokenId(token: string): string | undefined {
  const body = token.split('.')[1];
  if (body === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return isClaims(claims) ? claims.id : undefined;
  } catch {
    return undefined;
  }
}
