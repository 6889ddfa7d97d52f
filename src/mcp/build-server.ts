import { McpServer } from '@modelcontextprotocol/server';
import { registerFileTools } from './file-tools.js';
import { registerRunTool } from './run-tool.js';
import { registerSandboxTools } from './sandbox-tools.js';
import type { ToolDeps } from './tool-context.js';
import { registerWorkspaceTools } from './workspace-tools.js';

const INSTRUCTIONS = `IronClaw runs code in sandboxes that have no network and cannot touch this computer's files.
- For one command or one program, call \`run\`: a fresh sandbox is made and destroyed for that call.
- For work in several steps, call \`sandbox_create\`, then \`sandbox_exec\` and the \`sandbox_*_file\` tools with the sandboxId it returns, and \`sandbox_destroy\` when done.
Files live under /workspace (the working directory) and /tmp. python3 and node are installed; nothing can be downloaded.`;

/** One MCP server instance for one session: its tools reach only that session's sandboxes. */
export function buildMcpServer(deps: ToolDeps & { version: string }): McpServer {
  const server = new McpServer(
    { name: 'ironclaw', title: 'IronClaw', version: deps.version },
    { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  );
  registerRunTool(server, deps);
  registerSandboxTools(server, deps);
  registerFileTools(server, deps);
  registerWorkspaceTools(server, deps);
  return server;
}
