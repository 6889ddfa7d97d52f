import { describe, expect, test } from 'vitest';
import { requestIdFromEdges, requestIdOf, requestIdOfText } from './request-id.js';

describe('request ids for error answers', () => {
  test('of a parsed message: a string or number id of one object', () => {
    expect(requestIdOf({ id: 3, hello: 1 })).toBe(3);
    expect(requestIdOf({ id: 'a' })).toBe('a');
    expect(requestIdOf({ id: {} })).toBeNull();
    expect(requestIdOf([{ id: 1 }])).toBeNull();
    expect(requestIdOfText('{"jsonrpc":"2.0","id":9,"method":5}')).toBe(9);
    expect(requestIdOfText('{"id":9,')).toBeNull();
  });

  test.each([
    ['{"jsonrpc":"2.0","id":1,"method":"m","params":{"x":"', '', 1],
    ['{ "method" : "m", "id" : "a\\"b", "params":{"x":"', '', 'a"b'],
    ['{"method":"m","params":{"id":5,"x":"', '', null],
    ['{"method":"m","params":["{\\"id\\":5,", {"id":6}],"id":-7,"x":"', '', -7],
    ['{"id":12', '', null],
    ['{"method":"m","params":{"x":"', 'xx"},"jsonrpc":"2.0","id":"z"}', 'z'],
    ['{"method":"m","params":{"x":"', 'xx"},"id":4,"jsonrpc":"2.0"}', 4],
    ['{"method":"m","params":{"x":"', 'xx","id":4}}', null],
    ['["', '"]', null],
  ])('from the edges of %j … %j: %j', (head, tail, id) => {
    expect(requestIdFromEdges(head, tail)).toBe(id);
  });
});
