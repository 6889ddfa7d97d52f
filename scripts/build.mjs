// Builds the bundles: the CLI in three parts (main, with the hand-over of a plain `exec` to its
// box; exec-command, the supervised `exec`; more, every other command), the library entry for
// embedding, and the guest agent as one self-contained file copied into every box; and the
// library's type declarations, dist/types (package.json's exports.types).
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { cp, readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

await rm('dist', { recursive: true, force: true });
/**
 * Our source maps carry every source they name (the package ships them). A dependency whose own
 * map names sources it does not ship (standardwebhooks, under openai) would leave holes, so
 * dependencies are mapped as the JavaScript we bundle, not through their own maps.
 */
const ownMapsOnly = {
  name: 'own-maps-only',
  setup(/** @type {import('esbuild').PluginBuild} */ build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/].*\.[cm]?js$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replace(/\/\/# sourceMappingURL=\S+\s*$/, ''),
      loader: 'js',
    }));
  },
};
const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  // The maps ship in the package, each holding the sources it names (sourcesContent), as src/
  // does not ship: a stack trace under `node --enable-source-maps` points into TypeScript.
  sourcemap: 'linked',
  sourcesContent: true,
  logLevel: 'warning',
  plugins: [ownMapsOnly],
};
// CommonJS, which node loads measurably faster than an ES module: these files are on the path
// of every one-shot `ironclaw exec`. import.meta.url is rebuilt from __filename.
const commonJs = {
  ...common,
  format: 'cjs',
  outdir: 'dist/cli',
  outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
};
/**
 * For main only: node:fs/promises answered synchronously (src/cli/start-up-fs.ts). CommonJS
 * output cannot be split, so what main loads on demand are files of their own: more.js and the
 * supervised exec, exec-command.cjs. test/cli-startup.test.ts checks what main holds.
 */
const startUpFs = {
  name: 'start-up-fs',
  setup(/** @type {import('esbuild').PluginBuild} */ build) {
    build.onResolve({ filter: /^(node:)?fs\/promises$/ }, () => ({
      path: resolve('src/cli/start-up-fs.ts'),
    }));
  },
};
await Promise.all([
  // Declarations of src/index.ts and what it references (tsconfig.types.json), without a type
  // check of their own: `npm run typecheck` makes that one.
  promisify(execFile)(process.execPath, [
    resolve('node_modules/typescript/bin/tsc'),
    '-p',
    'tsconfig.types.json',
  ]).catch((/** @type {Error & { stdout?: string }} */ error) => {
    throw new Error(`declarations: ${error.stdout || error.message}`);
  }),
  build({
    ...common,
    entryPoints: {
      guest: 'src/guest/main.ts',
      'net-probe': 'src/guest/net-probe.ts',
      // For bench/egress-rows.mjs, which measures the proxy from the package's snapshot.
      'egress-bench': 'src/network/egress-bench.ts',
    },
    outdir: 'dist',
    outExtension: { '.js': '.mjs' },
  }),
  build({
    ...commonJs,
    entryPoints: { main: 'src/cli/main.ts' },
    external: ['./more.js'],
    plugins: [startUpFs],
  }),
  // Every option and driver: its other drivers load on first use (inlined, as CommonJS cannot
  // split, but not run before).
  build({ ...commonJs, entryPoints: { 'exec-command': 'src/cli/exec-command.ts' } }),
  // Split: what a command imports when it runs (the MCP server and its SDK, over a megabyte)
  // goes to chunks of its own, so the other commands of this bundle do not parse it.
  build({
    ...common,
    entryPoints: { more: 'src/cli/more.ts' },
    outdir: 'dist/cli',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS dependencies (the MCP client's cross-spawn) require node's modules at run time,
    // which an ES module has no require for: give them one.
    banner: {
      js: 'import { createRequire as __ironclawCreateRequire } from "node:module"; const require = __ironclawCreateRequire(import.meta.url);',
    },
  }),
  build({
    ...common,
    entryPoints: { index: 'src/index.ts' },
    outdir: 'dist',
    packages: 'external',
  }),
]);

// The dashboard's page (src/dashboard/page-assets.ts serves it from here): plain files, as the
// browser loads them; nothing is fetched from anywhere else.
await cp('src/dashboard/page', 'dist/dashboard', { recursive: true });

// The seccomp policies (the sandbox's, and the VMMs' allow-lists), compiled by our compiler for
// each architecture we support, with their numbers. Boxes and VMM jails load these bytes
// (`bwrap --seccomp FD`), so a one-shot run neither parses nor compiles a policy; a test checks
// they equal a fresh compilation of the policy files.
const { seccomp } = await import('../dist/index.js');
const { mkdir, writeFile } = await import('node:fs/promises');
const { createHash } = await import('node:crypto');
await mkdir('dist/seccomp', { recursive: true });
for (const name of seccomp.SECCOMP_POLICY_NAMES) {
  const file = seccomp.seccompPolicyFile(name);
  const policy = JSON.parse(await readFile(file, 'utf8'));
  for (const nodeArch of ['x64', 'arm64']) {
    const compiled = seccomp.compilePolicyForHost(policy, { nodeArch, what: file });
    if (!compiled.ok) throw new Error(`${file}: ${compiled.message}`);
    const { arch, bytes, instructions } = compiled.value;
    const stats = seccomp.filterStats(bytes, arch);
    await writeFile(`dist/seccomp/${name}.${arch}.bpf`, bytes);
    await writeFile(
      `dist/seccomp/${name}.${arch}.json`,
      `${JSON.stringify({ policy: policy.name, arch, instructions, sha256: createHash('sha256').update(bytes).digest('hex'), total: stats.total, allowed: stats.allowed, denied: stats.denied, conditional: stats.conditional, deniedSyscalls: stats.deniedSyscalls, conditionalSyscalls: stats.conditionalSyscalls }, null, 2)}\n`,
    );
  }
}
