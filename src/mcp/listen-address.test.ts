import { expect, test } from 'vitest';
import { parseListen } from './listen-address.js';

test('parseListen takes a port, host:port or [ipv6]:port, on 127.0.0.1 by default', () => {
  expect(parseListen('8765')).toEqual({ host: '127.0.0.1', port: 8765 });
  expect(parseListen('0')).toEqual({ host: '127.0.0.1', port: 0 });
  expect(parseListen('localhost:1')).toEqual({ host: 'localhost', port: 1 });
  expect(parseListen('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
  expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
});

test('parseListen refuses anything else with INVALID_ARGUMENT', () => {
  for (const text of ['', 'http://x:1', '65536', 'host:', ':80', 'a b:80', '-1', '1.5']) {
    expect(() => parseListen(text), text).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown,
    );
  }
});
