import { expect, it } from 'vitest';
import { describeExit, exitStatusForSignal } from './exit-status.js';

it('describes how a box holder ended, naming a signal behind 128+N', () => {
  expect(describeExit({ code: null, signal: 'SIGKILL' })).toBe('killed by SIGKILL');
  expect(describeExit({ code: 137, signal: null })).toBe(
    'exit code 137: its first process was killed by SIGKILL',
  );
  expect(describeExit({ code: 1, signal: null })).toBe('exit code 1');
  expect(exitStatusForSignal('SIGKILL')).toBe(137);
});
