// The dashboard's decision endpoint against a real broker and audit store: the page's answer is
// checked (shape, scope, id) and carried to the broker with the broker's own token, once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApprovalBroker } from '../approval/approval-broker.js';
import type { RedAction } from '../approval/red-action.js';
import { AuditStore } from '../audit/audit-store.js';
import { approvalsView, decide } from './approvals-api.js';

let dir: string;
let audit: AuditStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-dash-approvals-'));
  audit = await AuditStore.open(join(dir, 'audit.db'));
});
afterAll(async () => {
  audit.close();
  await rm(dir, { recursive: true, force: true });
});

const egress: RedAction = {
  kind: 'egress',
  sandbox: 'sb-dash',
  host: 'example.org',
  port: 443,
  protocol: 'connect',
};

/** A broker watched as the dashboard watches it, and one request waiting on it. */
async function waiting() {
  const broker = new ApprovalBroker({ audit });
  const opened = new Promise<string>((resolve) =>
    broker.subscribe((event) => {
      if (event.type === 'pending') resolve(event.id);
    }),
  );
  const result = broker.request(egress, { agent: 'test' });
  return { broker, id: await opened, result };
}

const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('the dashboard decides approvals', () => {
  test('the page sees the card but never the token', async () => {
    const { broker, id, result } = await waiting();
    const view = approvalsView(broker);
    expect(view.available).toBe(true);
    expect(view.pending.map((card) => card.id)).toEqual([id]);
    const token = broker.pending()[0]?.token ?? '';
    expect(token).not.toBe('');
    expect(JSON.stringify(view)).not.toContain(token);
    expect(decide(broker, id, body({ decision: 'deny', scope: 'once' }), 'dashboard').status).toBe(
      200,
    );
    expect(await result).toMatchObject({ approved: false, by: 'dashboard' });
  });

  test('an approve with an offered scope goes through, once', async () => {
    const { broker, id, result } = await waiting();
    const answer = body({ decision: 'approve', scope: 'once' });
    expect(decide(broker, id, answer, 'dashboard')).toEqual({ status: 200, body: { ok: true } });
    expect(await result).toMatchObject({ approved: true, scope: 'once' });
    // A second click on a card already answered: nothing is pending under that id any more.
    expect(decide(broker, id, answer, 'dashboard').status).toBe(404);
  });

  test('a malformed answer, an unknown id or a scope not offered is refused with its reason', async () => {
    const { broker, id, result } = await waiting();
    expect(() => decide(broker, id, Buffer.from('{"decision":"yes"'), 'dashboard')).toThrow(
      /a decision is JSON/,
    );
    expect(() =>
      decide(broker, id, body({ decision: 'approve', scope: 'forever' }), 'dashboard'),
    ).toThrow(/a decision is JSON/);
    expect(
      decide(broker, 'ap-nope', body({ decision: 'approve', scope: 'once' }), 'dashboard'),
    ).toMatchObject({ status: 404 });
    // "always" is saved for a project; a request without one is not offered it.
    expect(broker.pending()[0]?.card.scopes).not.toContain('always');
    expect(
      decide(broker, id, body({ decision: 'approve', scope: 'always' }), 'dashboard'),
    ).toMatchObject({ status: 400 });
    // Still pending after all of that: nothing was decided by a refused answer.
    expect(broker.pending().map((pending) => pending.card.id)).toEqual([id]);
    decide(broker, id, body({ decision: 'deny', scope: 'once' }), 'dashboard');
    expect(await result).toMatchObject({ approved: false });
  });
});
