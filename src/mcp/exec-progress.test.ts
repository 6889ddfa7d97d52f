import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { ExecProgress, type ProgressUpdate } from './exec-progress.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function start(options: { tailBytes?: number } = {}): {
  progress: ExecProgress;
  sent: ProgressUpdate[];
} {
  const sent: ProgressUpdate[] = [];
  const progress = new ExecProgress({
    send: async (update) => {
      sent.push(update);
    },
    intervalMs: 100,
    heartbeatMs: 1000,
    timeoutMs: 60_000,
    ...options,
  });
  progress.start();
  return { progress, sent };
}

test('reports new output at each interval, with the time limit as total', () => {
  const { progress, sent } = start();
  vi.advanceTimersByTime(250);
  expect(sent).toEqual([]);
  progress.onOutput(Buffer.from('first\n'));
  vi.advanceTimersByTime(100);
  progress.onOutput(Buffer.from('second\n'));
  vi.advanceTimersByTime(100);
  progress.stop();
  expect(sent).toHaveLength(2);
  expect(sent[0]).toMatchObject({
    total: 60_000,
    message: expect.stringContaining('first\n') as unknown,
  });
  expect(sent[1]?.message).toMatch(/13 bytes of output so far; latest output:\nfirst\nsecond\n$/);
  expect(sent[1]!.progress).toBeGreaterThan(sent[0]!.progress);
});

test('sends a heartbeat without output, and progress always grows', () => {
  const { progress, sent } = start();
  vi.advanceTimersByTime(3050);
  progress.stop();
  expect(sent.map((update) => update.message)).toEqual([
    expect.stringMatching(/^running for 1\.0 s, 0 bytes of output so far$/),
    expect.stringMatching(/^running for 2\.0 s/),
    expect.stringMatching(/^running for 3\.0 s/),
  ]);
  const values = sent.map((update) => update.progress);
  expect(new Set(values).size).toBe(values.length);
  expect(values).toEqual([...values].sort((a, b) => a - b));
});

test('quotes only the latest output, whatever the size of the chunks', () => {
  const { progress, sent } = start({ tailBytes: 8 });
  progress.onOutput(Buffer.from('0123456789'));
  progress.onOutput(Buffer.from('ab'));
  vi.advanceTimersByTime(100);
  progress.onOutput(Buffer.from('x'.repeat(100)));
  progress.onOutput(Buffer.from('yz'));
  vi.advanceTimersByTime(100);
  progress.stop();
  expect(sent[0]?.message.endsWith('\n456789ab')).toBe(true);
  expect(sent[1]?.message.endsWith('\nxxxxxxyz')).toBe(true);
});

test('a failing send (the client left) is ignored', async () => {
  const progress = new ExecProgress({
    send: () => Promise.reject(new Error('gone')),
    intervalMs: 10,
  });
  progress.start();
  progress.onOutput(Buffer.from('x'));
  vi.advanceTimersByTime(10);
  progress.stop();
  await vi.runAllTimersAsync();
});
