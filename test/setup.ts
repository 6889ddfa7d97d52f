// Test workers inherit descriptors from the runner without close-on-exec; a process that
// embeds IronClaw must close those before starting boxes (sandboxes refuse to start otherwise).
import { closeInheritedFds } from '../src/host/inherited-fds.js';

closeInheritedFds();
