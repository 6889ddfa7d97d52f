import { describe, expect, test } from 'vitest';
import { allowedHostnames, checkRequest, jsonRpcErrorBody } from './http-gate.js';

const TOKEN = 'the-token-of-this-server';
const gate = { allowedHostnames: allowedHostnames('127.0.0.1'), token: TOKEN };
const good = { host: '127.0.0.1:8765', authorization: `Bearer ${TOKEN}` };

describe('checkRequest', () => {
  test('lets a request with the token, a local Host and no Origin through', () => {
    expect(checkRequest('/mcp', good, gate)).toEqual({ ok: true });
    expect(checkRequest('/mcp?x=1', { ...good, origin: 'http://localhost:3000' }, gate)).toEqual({
      ok: true,
    });
  });

  test('answers only on /mcp', () => {
    expect(checkRequest('/', good, gate)).toMatchObject({ ok: false, status: 404 });
    expect(checkRequest('/mcp/../admin', good, gate)).toMatchObject({ ok: false, status: 404 });
  });

  test('refuses a foreign or missing Host before looking at the token (DNS rebinding)', () => {
    for (const host of ['evil.example:8765', 'evil.example', undefined, '127.0.0.1.evil.example']) {
      const verdict = checkRequest('/mcp', { ...good, host }, gate);
      expect(verdict, String(host)).toMatchObject({ ok: false, status: 403 });
    }
    expect(checkRequest('/mcp', { host: 'evil.example' }, gate)).toMatchObject({ status: 403 });
  });

  test('refuses a foreign or opaque Origin', () => {
    for (const origin of ['http://evil.example', 'null', 'https://127.0.0.1.evil.example']) {
      expect(checkRequest('/mcp', { ...good, origin }, gate), origin).toMatchObject({
        ok: false,
        status: 403,
      });
    }
  });

  test('refuses a missing, malformed or wrong token with a Bearer challenge', () => {
    const cases = [
      undefined,
      `Basic ${TOKEN}`,
      'Bearer',
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN} extra`,
    ];
    for (const authorization of cases) {
      const verdict = checkRequest('/mcp', { host: good.host, authorization }, gate);
      expect(verdict, String(authorization)).toMatchObject({ ok: false, status: 401 });
      if (!verdict.ok) expect(verdict.headers?.['www-authenticate']).toMatch(/^Bearer /);
    }
    expect(checkRequest('/mcp', { ...good, authorization: `bearer ${TOKEN}` }, gate)).toEqual({
      ok: true,
    });
  });
});

describe('allowedHostnames', () => {
  test('loopback names, the bound address unless a wildcard, and extra names', () => {
    expect(allowedHostnames('127.0.0.1')).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(allowedHostnames('0.0.0.0')).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect(allowedHostnames('::')).not.toContain('[::]');
    expect(allowedHostnames('10.0.0.5', ['Box.Local'])).toEqual(
      expect.arrayContaining(['10.0.0.5', 'box.local']),
    );
    expect(allowedHostnames('fd00::1')).toContain('[fd00::1]');
  });
});

test('jsonRpcErrorBody is a JSON-RPC error with a null id', () => {
  expect(JSON.parse(jsonRpcErrorBody('no', -32001))).toEqual({
    jsonrpc: '2.0',
    error: { code: -32001, message: 'no' },
    id: null,
  });
});
