// Builds the three bundles: the CLI (lazy chunks keep `ironclaw exec` start-up small), the
// library entry for embedding, and the guest agent as one self-contained file.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';

await rm('dist', { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
};
await Promise.all([
  build({
    ...common,
    entryPoints: { guest: 'src/guest/main.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
  }),
  // Two CLI bundles: main (with exec) and more (every other command), loaded on demand.
  build({
    ...common,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir: 'dist/cli',
    external: ['./more.js'],
  }),
  build({ ...common, entryPoints: { more: 'src/cli/more.ts' }, outdir: 'dist/cli' }),
  build({
    ...common,
    entryPoints: { index: 'src/index.ts' },
    outdir: 'dist',
    packages: 'external',
  }),
]);
