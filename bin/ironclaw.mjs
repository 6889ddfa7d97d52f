#!/usr/bin/env node
// IronClaw's command-line entry. The compile cache keeps repeated start-ups cheap: a one-shot
// `ironclaw exec` should cost little more than node's own start-up plus the box.
import module from 'node:module';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `ironclaw: Node.js >= 22 is required, this is ${process.version}; run the set-up command of the README\n`,
  );
  process.exit(125);
}
module.enableCompileCache?.();
await import('../dist/cli/main.js');
