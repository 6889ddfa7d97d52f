// The wrap proxy's bookkeeping, between in-memory ends (the boxed server is test/mcp-wrap.test.ts).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { describe, expect, test } from 'vitest';
import { ApprovalBroker } from '../approval/approval-broker.js';
import { stderrLogger } from './logger.js';
import type { Upstream } from './wrap-box-server.js';
import { DEFAULT_POLICY } from './wrap-policy.js';
import { WrapProxy } from './wrap-proxy.js';
import { ToolGuard } from './wrap-tool-guard.js';

async function proxyPair(options: { pins?: string; approvals?: ApprovalBroker } = {}) {
  const lines: string[] = [];
  const log = stderrLogger({ level: 'debug', write: (line) => void lines.push(line) });
  const toServer: JSONRPCMessage[] = [];
  const toClient: JSONRPCMessage[] = [];
  const upstream: Upstream = {
    send: (message) => void toServer.push(message),
    onmessage: () => undefined,
    exited: new Promise<string>(() => undefined),
    close: () => Promise.resolve(),
  };
  const downstream: Transport = {
    start: () => Promise.resolve(),
    send: (message) => Promise.resolve(void toClient.push(message)),
    close: () => Promise.resolve(),
  };
  const pins =
    options.pins ?? join(await mkdtemp(join(tmpdir(), 'ironclaw-wrap-proxy-')), 'pins.json');
  const proxy = new WrapProxy({
    downstream,
    upstream,
    policy: DEFAULT_POLICY,
    guard: await ToolGuard.open(pins, ['server'], log),
    log,
    acceptCommand: 'ironclaw wrap --accept-tools -- server',
    argv: ['server'],
    approvals: options.approvals,
  });
  const fromClient = (message: JSONRPCMessage): void => downstream.onmessage?.(message);
  const audits = (): Record<string, unknown>[] =>
    lines
      .filter((line) => line.includes(' audit {'))
      .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
  return { proxy, upstream, fromClient, toServer, toClient, audits, lines };
}

const call = (id: number, name: string): JSONRPCMessage => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
});

describe('WrapProxy', () => {
  test('a cancelled call is audited as cancelled and forgotten; its late answer is dropped', async () => {
    const { proxy, upstream, fromClient, toServer, toClient, audits, lines } = await proxyPair();
    fromClient(call(1, 'slow'));
    fromClient(call(2, 'other'));
    fromClient({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 1, reason: 'the user pressed stop' },
    });
    expect(toServer.map((message) => ('method' in message ? message.method : ''))).toEqual([
      'tools/call',
      'tools/call',
      'notifications/cancelled',
    ]);
    expect(audits()).toEqual([
      expect.objectContaining({
        tool: 'slow',
        decision: 'allowed',
        outcome: 'cancelled',
        reason: 'the user pressed stop',
      }),
    ]);
    // The server answers anyway: not passed on, and no warning of an unknown id.
    upstream.onmessage({ jsonrpc: '2.0', id: 1, result: { content: [] } });
    // When the server goes, only the call still waiting is failed: the cancelled one is gone.
    await proxy.failPending('the wrapped server exited');
    expect(toClient).toMatchObject([{ id: 2, error: { code: -32603 } }]);
    expect(toClient).toHaveLength(1);
    expect(audits().map((record) => [record.tool, record.outcome])).toEqual([
      ['slow', 'cancelled'],
      ['other', 'error'],
    ]);
    expect(lines.join('')).not.toContain('never sent');
    // A cancel for nothing waiting is not passed on.
    fromClient({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } });
    expect(toServer).toHaveLength(3);
  });

  test('a tool list that cannot be checked against the pins is answered with an error, not passed on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ironclaw-wrap-proxy-'));
    const { upstream, fromClient, toClient } = await proxyPair({
      pins: join(dir, 'sub', 'pins.json'),
    });
    await writeFile(join(dir, 'sub'), 'not a directory');
    fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    upstream.onmessage({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'a' }] } });
    await expect.poll(() => toClient).toHaveLength(1);
    expect(toClient[0]).toMatchObject({
      id: 1,
      error: { code: -32603, message: expect.stringContaining('could not check') as unknown },
    });
  });

  test('a 2026-07-28 client is asked by an input-required result; a forged, changed or replayed retry is refused', async () => {
    const { upstream, fromClient, toServer, toClient, audits } = await proxyPair({
      approvals: new ApprovalBroker(),
    });
    fromClient({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2026-07-28',
        capabilities: { elicitation: { form: {} } },
        clientInfo: { name: 'modern', version: '1' },
      },
    });
    upstream.onmessage({
      jsonrpc: '2.0',
      id: 0,
      result: { protocolVersion: '2026-07-28', capabilities: {}, serverInfo: { name: 's' } },
    });
    fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const tools = [
      { name: 'rm', annotations: { destructiveHint: true } },
      { name: 'ls', annotations: { readOnlyHint: true } },
    ];
    upstream.onmessage({ jsonrpc: '2.0', id: 1, result: { tools } });
    await expect.poll(() => toClient).toHaveLength(2);
    const listed = (toClient[1] as unknown as { result: { tools: Record<string, unknown>[] } })
      .result.tools;
    expect(listed[0]?._meta).toEqual({ 'anthropic/requiresUserInteraction': true });
    expect(listed[1]?._meta).toBeUndefined();

    const rm = (id: number, path: string, extra: Record<string, unknown> = {}): JSONRPCMessage => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'rm', arguments: { path }, ...extra },
    });
    fromClient(rm(2, '/a'));
    await expect.poll(() => toClient).toHaveLength(3);
    const asked = (toClient[2] as { result: Record<string, unknown> }).result as {
      resultType: string;
      inputRequests: { approval: { method: string; params: { message: string } } };
      requestState: string;
    };
    expect(asked.resultType).toBe('input_required');
    expect(asked.inputRequests.approval.method).toBe('elicitation/create');
    expect(asked.inputRequests.approval.params.message).toContain('"/a"');
    const token = asked.requestState;
    const yes = { approval: { action: 'accept', content: { decision: 'approve', scope: 'once' } } };
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    fromClient(rm(3, '/b', { inputResponses: yes, requestState: token }));
    fromClient(rm(4, '/a', { inputResponses: yes, requestState: forged }));
    await expect.poll(() => toClient).toHaveLength(5);
    const refusals = toClient.slice(3).map((message) => JSON.stringify(message));
    expect(refusals[0]).toContain('arguments differ');
    expect(refusals[1]).toContain('not one this server issued');
    expect(
      toServer.filter((message) => 'method' in message && message.method === 'tools/call'),
    ).toEqual([]);

    fromClient(rm(5, '/a', { inputResponses: yes, requestState: token }));
    await expect
      .poll(() =>
        toServer.filter((message) => 'method' in message && message.method === 'tools/call'),
      )
      .toEqual([
        {
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/call',
          params: { name: 'rm', arguments: { path: '/a' } },
        },
      ]);
    fromClient(rm(6, '/a', { inputResponses: yes, requestState: token }));
    await expect.poll(() => toClient).toHaveLength(6);
    expect(JSON.stringify(toClient[5])).toContain('a token counts once');

    // A read-only tool is not asked about.
    fromClient({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'ls', arguments: {} },
    });
    expect(toServer.at(-1)).toMatchObject({ id: 7 });
    expect(audits().map((record) => [record.tool, record.decision])).toEqual([
      ['rm', 'denied'],
      ['rm', 'denied'],
      ['rm', 'denied'],
    ]);
  });

  test('a 2025-era client is asked by our own elicitation; a cancel while asking ends it unseen by the server', async () => {
    const { upstream, fromClient, toServer, toClient, audits } = await proxyPair({
      approvals: new ApprovalBroker(),
    });
    fromClient({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} } },
    });
    upstream.onmessage({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-11-25' } });
    fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    upstream.onmessage({
      jsonrpc: '2.0',
      id: 1,
      result: { tools: [{ name: 'rm', annotations: { destructiveHint: true } }] },
    });
    await expect.poll(() => toClient).toHaveLength(2);
    fromClient({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'rm', arguments: {} },
    });
    await expect.poll(() => toClient).toHaveLength(3);
    const asked = toClient[2] as { id: string; method: string };
    expect(asked.method).toBe('elicitation/create');
    expect(asked.id).toMatch(/^ironclaw-approval-[0-9a-f]{16}-1$/);
    fromClient({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 2 } });
    await expect.poll(() => toClient).toHaveLength(4);
    expect(toClient[3]).toMatchObject({
      method: 'notifications/cancelled',
      params: { requestId: asked.id },
    });
    // The client's late answer to our question is ours: not relayed, and nothing runs.
    fromClient({
      jsonrpc: '2.0',
      id: asked.id,
      result: { action: 'accept', content: { decision: 'approve' } },
    });
    await expect.poll(() => audits()).toHaveLength(1);
    expect(audits()[0]).toMatchObject({ tool: 'rm', decision: 'denied', outcome: 'cancelled' });
    expect(toServer.map((message) => ('method' in message ? message.method : 'answer'))).toEqual([
      'initialize',
      'tools/list',
    ]);
  });
});
