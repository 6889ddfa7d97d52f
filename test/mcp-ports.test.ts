// MCP sandbox_create with `ports`: a server in the box, reached at the URL the result gives.
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN } from './helpers/cli.js';

let client: Client;

beforeAll(async () => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp'],
    env: { ...(process.env as Record<string, string>), IRONCLAW_POOL_SIZE: '0' },
    stderr: 'pipe',
  });
  client = new Client({ name: 'ironclaw-ports-test', version: '1.0.0' });
  await client.connect(transport);
});

afterAll(async () => {
  await client.close();
});

// Binds, then says so in a file: the test's next exec waits for that file, not for a time.
const SERVER = `import http.server, pathlib
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'served in the box')
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 9000), H)
pathlib.Path('/tmp/ready').touch()
s.serve_forever()`;

describe('MCP sandbox_create ports', () => {
  test(
    'the result gives a URL that reaches a server in the box',
    { timeout: 120_000 },
    async () => {
      const created = await client.callTool({
        name: 'sandbox_create',
        arguments: { ports: [9000] },
      });
      expect(created.isError).toBeFalsy();
      const { sandboxId, ports } = created.structuredContent as {
        sandboxId: string;
        ports: { boxPort: number; url: string }[];
      };
      expect(ports).toHaveLength(1);
      expect(ports[0]?.boxPort).toBe(9000);
      expect(ports[0]?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      await client.callTool({
        name: 'sandbox_write_file',
        arguments: { sandboxId, path: '/tmp/server.py', content: SERVER },
      });
      const started = await client.callTool({
        name: 'sandbox_exec',
        arguments: {
          sandboxId,
          command:
            'python3 /tmp/server.py >/tmp/server.log 2>&1 & while [ ! -e /tmp/ready ]; do sleep 0.05; done',
          timeoutSeconds: 60,
        },
      });
      expect(started.isError).toBeFalsy();
      const response = await fetch(ports[0]?.url ?? '');
      expect(await response.text()).toBe('served in the box');
      await client.callTool({ name: 'sandbox_destroy', arguments: { sandboxId } });
      await expect(fetch(ports[0]?.url ?? '')).rejects.toThrow();
    },
  );
});
