import { isIP } from 'node:net';
import type { OptionDef, OptionValues } from './command.js';
import { usageError } from './cli-error.js';

/** `sandbox create -p [HOST_PORT:]BOX_PORT` and `--publish-address`. */
export const PUBLISH_OPTIONS: Record<string, OptionDef> = {
  publish: {
    type: 'string',
    short: 'p',
    multiple: true,
    value: '[HOST_PORT:]BOX_PORT',
    description:
      'forward 127.0.0.1:HOST_PORT on the host to a server on BOX_PORT in the box (any free host port if none given); the box still has no route out',
  },
  'publish-address': {
    type: 'string',
    value: '<address>',
    description:
      'listen on this host address instead of 127.0.0.1 (e.g. 0.0.0.0: reachable by other machines; warned about)',
  },
};

export interface PortRequest {
  boxPort: number;
  hostPort: number;
  address: string;
}

/** The ports asked for, checked; a warning on stderr for an address other machines can reach. */
export function publishFlags(options: OptionValues): PortRequest[] | undefined {
  const specs = Array.isArray(options.publish) ? options.publish : [];
  const given = options['publish-address'];
  if (specs.length === 0) {
    if (given !== undefined) throw usageError('--publish-address needs -p');
    return undefined;
  }
  const address = typeof given === 'string' ? given : '127.0.0.1';
  if (isIP(address) === 0)
    throw usageError(
      `invalid --publish-address ${JSON.stringify(address)}: give an IP address of this host, e.g. 127.0.0.1 or 0.0.0.0`,
    );
  if (!isLoopback(address))
    process.stderr.write(
      `ironclaw: warning: publishing on ${address}, not loopback: whatever can reach this host there can reach the box's server\n`,
    );
  return specs.map((spec) => {
    const match = /^(?:(\d{1,5}):)?(\d{1,5})$/.exec(spec);
    const hostPort = Number(match?.[1] ?? '0');
    const boxPort = Number(match?.[2]);
    if (!match || boxPort < 1 || boxPort > 65535 || hostPort > 65535)
      throw usageError(
        `invalid -p ${JSON.stringify(spec)}: write BOX_PORT or HOST_PORT:BOX_PORT with ports 1 to 65535, e.g. -p 8000 or -p 8080:8000`,
      );
    return { boxPort, hostPort, address };
  });
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}
