// Egress to a host the allow-list does not name is a red action: while someone watches the
// approval broker (the dashboard does), the box's connection waits for a person's answer; a
// deny refuses it with the reason, a yes still meets the address policy (loopback stays shut),
// and with nobody watching it is refused at once as before, without an approval record.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApprovalBroker } from '../src/approval/approval-broker.js';
import { AuditStore } from '../src/audit/audit-store.js';
import { createSandbox } from '../src/index.js';

let dir: string;
let store: AuditStore;
let server: Server;
let port: number;
let requests = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ironclaw-egress-approval-'));
  store = await AuditStore.open(join(dir, 'audit.db'));
  server = createServer((_request, response) => {
    requests += 1;
    response.end('secret');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const curl = (target: string): string[] => ['curl', '-sS', '-w', '\n%{http_code}', target];

describe('egress to an unlisted host, under the approval cliff', () => {
  test('waits for a person: a deny refuses, a yes still meets the address policy, nobody watching refuses at once', async () => {
    const broker = new ApprovalBroker({ audit: store });
    const answers: ('approve' | 'deny')[] = [];
    const titles: string[] = [];
    const stop = broker.subscribe((event) => {
      if (event.type !== 'pending') return;
      const pending = broker.pending().find((p) => p.card.id === event.id);
      if (!pending) return;
      titles.push(pending.card.title);
      broker.answer({
        id: pending.card.id,
        token: pending.token,
        decision: answers.shift() ?? 'deny',
        scope: 'once',
        by: 'test',
      });
    });
    // A rule for another port, so the box has egress at all.
    await using box = await createSandbox({
      allowNet: [`127.0.0.1:${port + 1 > 65535 ? port - 1 : port + 1}`],
      approvals: { broker, agent: 'the egress-approval test' },
    });
    const target = `http://127.0.0.1:${port}/`;

    answers.push('deny');
    const denied = await box.exec(curl(target), { timeoutMs: 20_000 });
    expect(denied.stdout.toString()).toMatch(/403$/);
    expect(denied.stdout.toString()).toContain('denied by test');
    expect(titles).toEqual([`Connect to 127.0.0.1:${port}`]);

    answers.push('approve');
    const approved = await box.exec(curl(target), { timeoutMs: 20_000 });
    expect(approved.stdout.toString()).toMatch(/403$/);
    expect(approved.stdout.toString()).toMatch(/loopback/i);
    expect(titles).toHaveLength(2);

    stop();
    const unwatched = await box.exec(curl(target), { timeoutMs: 20_000 });
    expect(unwatched.stdout.toString()).toMatch(/403$/);
    expect(unwatched.stdout.toString()).toContain('no --allow-net rule allows');
    expect(titles).toHaveLength(2);
    expect(requests).toBe(0);

    const approvals = store
      .query({ sandbox: box.id, limit: 100 })
      .filter((record) => record.kind === 'approval');
    expect(approvals.map((record) => record.status)).toEqual([
      'requested',
      'denied',
      'requested',
      'done',
    ]);
  });
});
