#!/usr/bin/env node
// IronClaw's command-line entry. CommonJS on purpose, with node's compile cache: a one-shot
// `ironclaw exec` should cost little more than node's own start-up plus the box, and node's
// CommonJS loader starts a small bundle measurably faster than its ES-module loader.
'use strict';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `ironclaw: Node.js >= 22 is required, this is ${process.version}; run the set-up command of the README\n`,
  );
  process.exit(125);
}
require('node:module').enableCompileCache?.();
require('../dist/cli/main.cjs');
