import { connect } from 'node:net';
import { EGRESS_PORT } from '../core/egress-env.js';

/** The proxy's answer head is a status line and a few headers; more is not a proxy talking. */
const MAX_HEAD = 16 * 1024;
/** How much of a refusal's body is shown: the proxy's reason fits in one line. */
const MAX_REASON = 4 * 1024;

/**
 * `node agent.mjs connect HOST PORT`: a TCP connection to HOST:PORT through the egress proxy
 * (HTTP CONNECT to the box's 127.0.0.1:3128), joined to stdin and stdout. It is ssh's
 * ProxyCommand in the box (GIT_SSH_COMMAND): boxes have no nc or socat, but every box has the
 * node the agent runs on. A refusal is printed on stderr with the proxy's reason (ssh shows it)
 * and exits 1. Ends the process; never returns.
 */
export function runConnectCommand(args: readonly string[]): Promise<never> {
  const [host, port] = args;
  if (args.length !== 2 || !host || !/^\d{1,5}$/.test(port ?? '')) {
    return fail('usage: node agent.mjs connect HOST PORT (a TCP tunnel through the egress proxy)');
  }
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise<never>(() => {
    const proxy = connect({ host: '127.0.0.1', port: EGRESS_PORT, allowHalfOpen: true });
    proxy.once(
      'error',
      (error: NodeJS.ErrnoException) =>
        void fail(
          `cannot reach the egress proxy at 127.0.0.1:${EGRESS_PORT} for ${authority}: ${error.code ?? error.message} (does this sandbox have --allow-net?)`,
        ),
    );
    proxy.once('connect', () =>
      proxy.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
    );
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD)
          void fail(`the egress proxy sent no answer to CONNECT ${authority}`);
        return;
      }
      proxy.off('data', onHead);
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200/.test(status)) {
        proxy.pause();
        void refusal(proxy, status, head.subarray(end + 4), authority);
        return;
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) process.stdout.write(rest);
      proxy.pipe(process.stdout);
      process.stdin.pipe(proxy);
      proxy.once('end', () => process.exit(0));
      proxy.once('close', () => process.exit(0));
    };
    proxy.on('data', onHead);
  });
}

/** Reads the rest of a refusal (the reason is its body), prints it, exits 1. */
async function refusal(
  proxy: ReturnType<typeof connect>,
  status: string,
  first: Buffer,
  authority: string,
): Promise<never> {
  let body = first;
  proxy.resume();
  await new Promise<void>((resolve) => {
    proxy.on('data', (chunk: Buffer) => {
      body = Buffer.concat([body, chunk]).subarray(0, MAX_REASON);
    });
    proxy.once('close', () => resolve());
    proxy.once('end', () => resolve());
  });
  const reason = body.toString('utf8').trim();
  return fail(`CONNECT ${authority} refused: ${status}${reason ? `: ${reason}` : ''}`);
}

function fail(message: string): Promise<never> {
  process.stderr.write(`ironclaw connect: ${message}\n`);
  process.exit(1);
}

/**
 * What GIT_SSH_COMMAND is in a box with egress: ssh with this connector as its ProxyCommand, on
 * the node the agent runs on, so `git clone ssh://…` reaches a `host:port` rule unchanged. ssh
 * has no proxy variable of its own, and the box has no route, so without it ssh finds none.
 * Undefined when a path would need quoting through two shells (ssh runs ProxyCommand with sh).
 */
export function sshThroughProxy(node: string, agent: string): string | undefined {
  const plain = /^[\w./+-]+$/;
  if (!plain.test(node) || !plain.test(agent)) return undefined;
  return `ssh -o 'ProxyCommand=${node} ${agent} connect %h %p'`;
}
