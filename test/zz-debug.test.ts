import { test } from 'vitest';
import { createSandbox } from '../src/index.js';
test('dbg', async () => {
  await using box = await createSandbox();
  const chunks: string[] = [];
  let wake: (() => void) | undefined;
  const t0 = Date.now();
  async function* lines(): AsyncGenerator<Uint8Array> {
    for (const word of ['one', 'two', 'three', 'four']) {
      console.log('yield', word, Date.now() - t0);
      yield Buffer.from(`${word}\n`);
      while (!chunks.join('').includes(`got ${word}\n`)) await new Promise<void>((resolve) => (wake = resolve));
      console.log('saw', word, Date.now() - t0);
    }
    console.log('end', Date.now() - t0);
  }
  const result = await box.exec('while read -r line; do echo "got $line"; done', {
    stdin: lines(), timeoutMs: 20000,
    onStdout: (chunk) => { chunks.push(chunk.toString()); console.log('chunk', JSON.stringify(chunk.toString()), Date.now() - t0); wake?.(); },
  });
  console.log(result, chunks);
});
