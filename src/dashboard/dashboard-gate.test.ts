import { describe, expect, test } from 'vitest';
import { checkDashboardRequest } from './dashboard-gate.js';

const gate = { port: 4321, token: 'k'.repeat(43), needsToken: true };
const bearer = `Bearer ${gate.token}`;

describe('the dashboard gate', () => {
  test.each([
    ['loopback address', { host: '127.0.0.1:4321', authorization: bearer }],
    ['localhost, any case', { host: 'LocalHost:4321', authorization: bearer }],
    [
      'its own origin',
      { host: '127.0.0.1:4321', origin: 'http://127.0.0.1:4321', authorization: bearer },
    ],
  ])('lets in a request to the %s with the token', (_, headers) => {
    expect(checkDashboardRequest(headers, gate)).toEqual({ ok: true });
  });

  test.each([
    ['no Host', { authorization: bearer }, 403],
    ['a rebound name', { host: 'attacker.example:4321', authorization: bearer }, 403],
    ['another port', { host: '127.0.0.1:80', authorization: bearer }, 403],
    ['a bound address it was not given', { host: '0.0.0.0:4321', authorization: bearer }, 403],
    [
      'a foreign origin',
      { host: '127.0.0.1:4321', origin: 'http://attacker.example', authorization: bearer },
      403,
    ],
    [
      'an origin of another port',
      { host: '127.0.0.1:4321', origin: 'http://127.0.0.1:8080', authorization: bearer },
      403,
    ],
    ['the null origin', { host: '127.0.0.1:4321', origin: 'null', authorization: bearer }, 403],
    ['no token', { host: '127.0.0.1:4321' }, 401],
    ['a wrong token', { host: '127.0.0.1:4321', authorization: 'Bearer nope' }, 401],
    ['the token as a prefix', { host: '127.0.0.1:4321', authorization: `${bearer}x` }, 401],
    ['another scheme', { host: '127.0.0.1:4321', authorization: `Basic ${gate.token}` }, 401],
  ])('refuses %s', (_, headers, status) => {
    const verdict = checkDashboardRequest(headers, gate);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.status).toBe(status);
  });

  test("the page's own files need no token, but still the right Host", () => {
    const page = { ...gate, needsToken: false };
    expect(checkDashboardRequest({ host: '127.0.0.1:4321' }, page)).toEqual({ ok: true });
    expect(checkDashboardRequest({ host: 'attacker.example:4321' }, page)).toMatchObject({
      ok: false,
      status: 403,
    });
  });
});
