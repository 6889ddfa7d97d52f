import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GUEST_METHODS } from '../protocol/guest-api.js';
import { type Handler, parseParams, RpcServer } from '../protocol/rpc-server.js';
import { closeInheritedFds } from './close-inherited-fds.js';
import { serveDevice } from './device-channel.js';
import { execCommand } from './exec.js';
import { ExecStubs } from './exec-stubs.js';
import { WORKSPACE } from '../core/sandbox-path.js';
import {
  listSandboxDir,
  readSandboxFile,
  removeSandboxPath,
  statSandboxPath,
  writeSandboxFile,
} from './files.js';
import { bridgeEnv, startNetBridge } from './net-bridge.js';
import { startDnsStub } from './dns-stub-server.js';
import { runConnectCommand, sshThroughProxy } from './connect-command.js';
import { connectPort } from './port-connect.js';
import { serveRelayed } from './vsock-channel.js';

/**
 * The guest agent: the first process in every sandbox. It serves one framed connection to the
 * host: an inherited descriptor (IRONCLAW_AGENT_FD; bwrap, gVisor), where it exits when that
 * connection closes, which ends the sandbox; or, in a VM, where it serves one host session after
 * another: IRONCLAW_AGENT_DEVICE names a virtio-serial port (QEMU), or `vsock:<port>`, an AF_VSOCK
 * port it listens on (Firecracker).
 */
// `node agent.mjs connect HOST PORT` is ssh's ProxyCommand in a box (connect-command.ts), not
// an agent: it must serve no channel and make no exec stubs, so the rest of this module waits
// here for good (the connector ends the process).
if (process.argv[2] === 'connect') await runConnectCommand(process.argv.slice(3));

const startedAt = performance.now();
// A stub starts with what every command gets before its own variables (exec.ts): the agent's
// environment and the egress bridge's.
const stubs = new ExecStubs(WORKSPACE, () => ({ ...process.env, ...bridgeEnv() }));

const handlers: Record<keyof typeof GUEST_METHODS, Handler> = {
  ping: async (params) => {
    parseParams(GUEST_METHODS.ping.params, params, 'ping');
    return {
      pid: process.pid,
      uptimeMs: performance.now() - startedAt,
      node: process.version,
      execReady: stubs.ready,
    };
  },
  exec: (params, context) =>
    execCommand(parseParams(GUEST_METHODS.exec.params, params, 'exec'), context, stubs),
  write_file: (params) =>
    writeSandboxFile(parseParams(GUEST_METHODS.write_file.params, params, 'write_file')),
  read_file: (params) =>
    readSandboxFile(parseParams(GUEST_METHODS.read_file.params, params, 'read_file')),
  list: (params) => listSandboxDir(parseParams(GUEST_METHODS.list.params, params, 'list')),
  stat: (params) => statSandboxPath(parseParams(GUEST_METHODS.stat.params, params, 'stat')),
  remove: (params) => removeSandboxPath(parseParams(GUEST_METHODS.remove.params, params, 'remove')),
  net_bridge: async (params, context) => {
    const result = await startNetBridge(
      parseParams(GUEST_METHODS.net_bridge.params, params, 'net_bridge'),
      context,
    );
    // Every command run from now on gets it, unless the sandbox's own env set one.
    const ssh = sshThroughProxy(process.execPath, process.argv[1] ?? '');
    if (ssh !== undefined) process.env.GIT_SSH_COMMAND ??= ssh;
    stubs.refresh();
    return result;
  },
  dns_stub: (params) =>
    startDnsStub(parseParams(GUEST_METHODS.dns_stub.params, params, 'dns_stub')),
  port_connect: (params, context) =>
    connectPort(parseParams(GUEST_METHODS.port_connect.params, params, 'port_connect'), context),
};

const device = process.env.IRONCLAW_AGENT_DEVICE;
delete process.env.IRONCLAW_AGENT_DEVICE;
const vsockPort = /^vsock:(\d{1,10})$/.exec(device ?? '')?.[1];
if (vsockPort !== undefined) {
  // Firecracker: no serial port; the agent listens on an AF_VSOCK port and the host dials it.
  closeInheritedFds(-1);
  void serveRelayed({ vsockPort: Number(vsockPort) }, serveSession, log);
} else if (device === undefined) {
  const fd = Number(process.env.IRONCLAW_AGENT_FD ?? '3');
  delete process.env.IRONCLAW_AGENT_FD;
  closeInheritedFds(fd);
  const socket = new Socket({ fd, readable: true, writable: true });
  new RpcServer(socket, handlers, {
    onClose: (error) => {
      if (error) process.stderr.write(`ironclaw guest agent: ${error.code}: ${error.message}\n`);
      process.exit(error ? 1 : 0);
    },
  });
} else {
  // In a VM the agent outlives its connection: the host may reconnect (after a restore, say),
  // so a closed session reopens the port instead of ending the sandbox.
  closeInheritedFds(-1);
  void serveDevice(device, serveSession, log);
}

/** One host session of a VM's agent: ends when the host disconnects or the channel fails. */
function serveSession(stream: Duplex): Promise<void> {
  return new Promise<void>((resolve) => {
    new RpcServer(stream, handlers, {
      onClose: (error) => {
        if (error) log(`${error.code}: ${error.message}`);
        resolve();
      },
    });
  });
}

function log(message: string): void {
  process.stderr.write(`ironclaw guest agent: ${message}\n`);
}
