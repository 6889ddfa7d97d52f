// Builds the bundles: the CLI in two parts (main, with `exec`, and more, with every other
// command, loaded on demand), the library entry for embedding, and the guest agent as one
// self-contained file that is copied into every box.
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
  // CommonJS, which node loads measurably faster than an ES module: this file is on the path of
  // every one-shot `ironclaw exec`. import.meta.url is rebuilt from __filename.
  build({
    ...common,
    format: 'cjs',
    entryPoints: { main: 'src/cli/main.ts' },
    outdir: 'dist/cli',
    outExtension: { '.js': '.cjs' },
    external: ['./more.js'],
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  }),
  // Split: what a command imports when it runs (the MCP server and its SDK, over a megabyte)
  // goes to chunks of its own, so the other commands of this bundle do not parse it.
  build({
    ...common,
    entryPoints: { more: 'src/cli/more.ts' },
    outdir: 'dist/cli',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  }),
  build({
    ...common,
    entryPoints: { index: 'src/index.ts' },
    outdir: 'dist',
    packages: 'external',
  }),
]);

// The default seccomp policy, compiled by our compiler for each architecture we support, with
// its numbers. Boxes load these bytes (`bwrap --seccomp FD`), so a one-shot run neither parses
// nor compiles the policy; a test checks they equal a fresh compilation of the policy file.
const { seccomp } = await import('../dist/index.js');
const { mkdir, readFile, writeFile } = await import('node:fs/promises');
const policy = JSON.parse(await readFile(seccomp.SANDBOX_POLICY_FILE, 'utf8'));
await mkdir('dist/seccomp', { recursive: true });
for (const nodeArch of ['x64', 'arm64']) {
  const compiled = seccomp.compilePolicyForHost(policy, {
    nodeArch,
    what: seccomp.SANDBOX_POLICY_FILE,
  });
  if (!compiled.ok) throw new Error(`${seccomp.SANDBOX_POLICY_FILE}: ${compiled.message}`);
  const { arch, bytes, instructions } = compiled.value;
  const stats = seccomp.filterStats(bytes, arch);
  await writeFile(`dist/seccomp/sandbox.${arch}.bpf`, bytes);
  await writeFile(
    `dist/seccomp/sandbox.${arch}.json`,
    `${JSON.stringify({ policy: policy.name, arch, instructions, total: stats.total, allowed: stats.allowed, denied: stats.denied, conditional: stats.conditional, deniedSyscalls: stats.deniedSyscalls, conditionalSyscalls: stats.conditionalSyscalls }, null, 2)}\n`,
  );
}
