import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
const prefix = process.argv[2] === 'nobody' ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
const [command, ...args] = [...prefix, process.execPath, '/work/wt-mcprun/bin/ironclaw.cjs', 'mcp'];
const t = new StdioClientTransport({ command, args, env: { ...process.env, IRONCLAW_POOL_SIZE: '1' }, stderr: 'inherit' });
const c = new Client({ name: 'x', version: '1' });
await c.connect(t);
const CANARY = [
  'id; cat /proc/self/uid_map /proc/self/gid_map; hostname; umask; pwd',
  "grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|Cap[A-Za-z]+):' /proc/self/status",
  'ulimit -a; env | sort; ls /proc/self/fd',
  "cut -d' ' -f4- /proc/self/mountinfo | sed -E 's/ (shared|master|propagate_from):[0-9]+//g; s#/bindfile[^/]*#/bindfile#'",
  'touch /usr/x /etc/x /x 2>&1; touch /tmp/x /workspace/x && echo writable',
  'cut -d: -f1 /proc/net/dev | tail -n +3; ls -A /',
].join('\n');
const a = await c.callTool({ name: 'run', arguments: { command: CANARY } });
const b = await c.callTool({ name: 'run', arguments: { command: CANARY, env: {} } });
const fs = await import('node:fs');
fs.writeFileSync('/tmp/mcprun-fast.txt', a.structuredContent.stdout + '\nEXIT ' + a.structuredContent.exitCode + '\n' + JSON.stringify(a.structuredContent.isolation, null, 1));
fs.writeFileSync('/tmp/mcprun-agent.txt', b.structuredContent.stdout + '\nEXIT ' + b.structuredContent.exitCode + '\n' + JSON.stringify(b.structuredContent.isolation, null, 1));
await c.close();
