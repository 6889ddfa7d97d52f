// The approval broker with a real audit store: a yes counts only with the token minted for that
// approval and action, before its expiry, once; a forged, replayed, expired or mismatched answer
// is refused and recorded; no answer is a deny; scopes and "always" rules answer later requests.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditStore } from '../audit/audit-store.js';
import { ApprovalBroker } from './approval-broker.js';
import type { PendingApproval } from './approval-types.js';
import { ApprovalPolicy } from './approval-policy.js';
import { mintToken } from './approval-token.js';
import type { RedAction } from './red-action.js';

let dir: string;
let audit: AuditStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-approval-'));
  audit = await AuditStore.open(join(dir, 'audit.db'));
});
afterAll(async () => {
  audit.close();
  await rm(dir, { recursive: true, force: true });
});

const egress: RedAction = {
  kind: 'egress',
  sandbox: 'sb-one',
  host: 'pypi.org',
  port: 443,
  protocol: 'connect',
};
const tool = (args: Record<string, unknown>): RedAction => ({
  kind: 'tool',
  server: 'files',
  tool: 'delete_file',
  arguments: args,
});

/** A broker with a watcher, so requests wait for an answer; the watcher hands each one over. */
function watched(options: ConstructorParameters<typeof ApprovalBroker>[0] = {}) {
  const broker = new ApprovalBroker({ audit, ...options });
  const waiting: ((pending: PendingApproval) => void)[] = [];
  broker.subscribe((event) => {
    if (event.type !== 'pending') return;
    const pending = broker.pending().find((p) => p.card.id === event.id);
    if (pending) waiting.shift()?.(pending);
  });
  const next = () => new Promise<PendingApproval>((resolve) => waiting.push(resolve));
  return { broker, next };
}

function records(id: string) {
  return audit.query({ limit: 10_000 }).filter((r) => JSON.stringify(r.data).includes(id));
}

describe('the approval broker', () => {
  test('an answer with the minted token decides, and the request and outcome are recorded', async () => {
    const { broker, next } = watched();
    const asked = next();
    const result = broker.request(egress, { agent: 'test' });
    const { card, token } = await asked;
    expect(card.title).toBe('Connect to pypi.org:443');
    expect(card.sandbox).toBe('sb-one');
    expect(
      broker.answer({ id: card.id, token, decision: 'approve', scope: 'once', by: 'test' }),
    ).toEqual({ ok: true });
    expect(await result).toMatchObject({ approved: true, scope: 'once', by: 'test' });
    expect(broker.pending()).toEqual([]);
    expect(records(card.id).map((r) => r.status)).toEqual(['requested', 'done']);
  });

  test('a deny ends the request; nothing asks again', async () => {
    const { broker, next } = watched();
    const asked = next();
    const result = broker.request(egress, { agent: 'test' });
    const { card, token } = await asked;
    broker.answer({ id: card.id, token, decision: 'deny', scope: 'once', by: 'test' });
    expect(await result).toMatchObject({ approved: false, by: 'test' });
    expect(records(card.id).map((r) => r.status)).toEqual(['requested', 'denied']);
  });

  test('a forged, replayed, expired or mismatched answer is refused and recorded', async () => {
    let clock = Date.now();
    const { broker, next } = watched({ now: () => clock, timeoutMs: 60_000 });
    const asked = next();
    const result = broker.request(tool({ path: '/a' }), { agent: 'test' });
    const { card, token } = await asked;
    const answer = {
      id: card.id,
      decision: 'approve' as const,
      scope: 'once' as const,
      by: 'test',
    };

    const forged = mintToken(Buffer.alloc(32, 7), {
      id: card.id,
      digest: 'x',
      expires: clock + 1e6,
    });
    expect(broker.answer({ ...answer, token: forged })).toMatchObject({
      ok: false,
      code: 'APPROVAL_FORGED',
    });
    const edited = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect(broker.answer({ ...answer, token: edited })).toMatchObject({
      ok: false,
      code: 'APPROVAL_FORGED',
    });
    expect(
      broker.answer({ ...answer, token, action: tool({ path: '/etc/passwd' }) }),
    ).toMatchObject({ ok: false, code: 'APPROVAL_MISMATCH' });
    expect(broker.pending()).toHaveLength(1);

    clock += 61_000;
    expect(broker.answer({ ...answer, token })).toMatchObject({
      ok: false,
      code: 'APPROVAL_EXPIRED',
    });
    expect(await result).toMatchObject({ approved: false, by: 'timeout' });
    expect(broker.answer({ ...answer, token })).toMatchObject({
      ok: false,
      code: 'APPROVAL_REPLAYED',
    });

    const refusals = records(card.id).filter((r) => r.kind === 'approval-refused');
    expect(refusals.map((r) => r.data.code)).toEqual([
      'APPROVAL_FORGED',
      'APPROVAL_FORGED',
      'APPROVAL_MISMATCH',
      'APPROVAL_EXPIRED',
      'APPROVAL_REPLAYED',
    ]);
  });

  test('a token counts once: a second accept is a replay', async () => {
    const { broker, next } = watched();
    const asked = next();
    const result = broker.request(egress, { agent: 'test' });
    const { card, token } = await asked;
    const answer = {
      id: card.id,
      token,
      decision: 'approve' as const,
      scope: 'once' as const,
      by: 'test',
    };
    expect(broker.answer(answer)).toEqual({ ok: true });
    expect(broker.answer(answer)).toMatchObject({ ok: false, code: 'APPROVAL_REPLAYED' });
    await result;
  });

  test("one approval's token does not answer another", async () => {
    const { broker, next } = watched();
    const first = next();
    const one = broker.request(tool({ n: 1 }), { agent: 'test' });
    const a = await first;
    const second = next();
    const two = broker.request(tool({ n: 2 }), { agent: 'test' });
    const b = await second;
    expect(
      broker.answer({ id: b.card.id, token: a.token, decision: 'approve', scope: 'once', by: 't' }),
    ).toMatchObject({ ok: false, code: 'APPROVAL_MISMATCH' });
    broker.answer({ id: a.card.id, token: a.token, decision: 'deny', scope: 'once', by: 't' });
    broker.answer({ id: b.card.id, token: b.token, decision: 'deny', scope: 'once', by: 't' });
    expect((await one).approved).toBe(false);
    expect((await two).approved).toBe(false);
  });

  test('no answer before the timeout is a deny', async () => {
    const { broker, next } = watched({ timeoutMs: 50 });
    const asked = next();
    const result = await broker.request(egress, { agent: 'test' });
    const { card } = await asked;
    expect(result).toMatchObject({ approved: false, by: 'timeout' });
    expect(result.reason).toMatch(/timeout is a deny/);
    expect(records(card.id).map((r) => r.status)).toEqual(['requested', 'denied']);
  });

  test('with nobody to ask, the answer is a deny at once, saying why', async () => {
    const broker = new ApprovalBroker({ audit });
    const result = await broker.request(egress, { agent: 'test' });
    expect(result).toMatchObject({ approved: false, by: 'policy' });
    expect(result.reason).toMatch(/no one can be asked/);
    expect(broker.pending()).toEqual([]);
  });

  test("the asker's own channel answers with the token it was shown", async () => {
    const broker = new ApprovalBroker({ audit });
    const result = await broker.request(egress, {
      agent: 'test',
      ask: async ({ card, token }) => {
        broker.answer({ id: card.id, token, decision: 'approve', scope: 'once', by: 'tty' });
      },
    });
    expect(result).toMatchObject({ approved: true, by: 'tty' });
  });

  test('a yes for this sandbox covers the same action in it, not in another sandbox', async () => {
    const { broker, next } = watched();
    const asked = next();
    const first = broker.request(egress, { agent: 'test' });
    const { card, token } = await asked;
    broker.answer({ id: card.id, token, decision: 'approve', scope: 'sandbox', by: 'test' });
    await first;
    expect(await broker.request(egress, { agent: 'test' })).toMatchObject({
      approved: true,
      by: 'scope',
    });
    const other = next();
    const elsewhere = broker.request({ ...egress, sandbox: 'sb-two' }, { agent: 'test' });
    const pending = await other;
    expect(pending.card.sandbox).toBe('sb-two');
    broker.answer({
      id: pending.card.id,
      token: pending.token,
      decision: 'deny',
      scope: 'once',
      by: 't',
    });
    expect((await elsewhere).approved).toBe(false);
  });

  test('"always" saves an exact rule for the project, which a new broker honours', async () => {
    const policy = new ApprovalPolicy(join(dir, 'approvals.json'));
    const { broker, next } = watched({ policy });
    const asked = next();
    const first = broker.request(egress, { agent: 'test', project: '/home/u/proj' });
    const { card, token } = await asked;
    expect(card.scopes).toContain('always');
    broker.answer({ id: card.id, token, decision: 'approve', scope: 'always', by: 'test' });
    await first;
    const saved = JSON.parse(await readFile(policy.path, 'utf8')) as { rules: unknown[] };
    expect(saved.rules).toEqual([
      expect.objectContaining({ project: '/home/u/proj', allow: 'egress pypi.org:443' }),
    ]);
    const later = new ApprovalBroker({ audit, policy });
    expect(
      await later.request(
        { ...egress, sandbox: 'sb-9' },
        { agent: 'test', project: '/home/u/proj' },
      ),
    ).toMatchObject({ approved: true, by: 'rule' });
    // Exact: another port, or another project, is not covered.
    expect(
      await later.request({ ...egress, port: 80 }, { agent: 'test', project: '/home/u/proj' }),
    ).toMatchObject({ approved: false });
    expect(await later.request(egress, { agent: 'test', project: '/home/u/other' })).toMatchObject({
      approved: false,
    });
  });

  test('without a project, "always" is not offered and cannot be answered', async () => {
    const { broker, next } = watched();
    const asked = next();
    const result = broker.request(egress, { agent: 'test' });
    const { card, token } = await asked;
    expect(card.scopes).toEqual(['once', 'sandbox', 'session']);
    expect(
      broker.answer({ id: card.id, token, decision: 'approve', scope: 'always', by: 't' }),
    ).toMatchObject({ ok: false, code: 'APPROVAL_MISMATCH' });
    broker.answer({ id: card.id, token, decision: 'deny', scope: 'once', by: 't' });
    await result;
  });
});
