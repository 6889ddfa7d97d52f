/**
 * The commands other than `exec`, bundled apart from the CLI's main file: `ironclaw exec`
 * starts without loading their code (schemas, the daemon client).
 */
export { daemonCommand } from './daemon-command.js';
export { doctorCommand } from './doctor-command.js';
export { sandboxCommand } from './sandbox-command.js';
export { policyCommand } from './policy-command.js';
export { imageCommand } from './image-command.js';
export { mcpCommand } from './mcp-command.js';
export { wrapCommand } from './wrap-command.js';
export { auditCommand } from './audit-command.js';
export { dashboardCommand } from './dashboard-command.js';
export { agentCommand } from './agent-command.js';
export { applyCommand, diffCommand } from './workspace-commands.js';
export { completionCommand } from './completion-command.js';
