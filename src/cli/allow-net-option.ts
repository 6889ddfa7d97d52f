import type { OptionDef } from './command.js';

/** `--allow-net`, as exec and sandbox create take it. */
export const ALLOW_NET_OPTION: Record<string, OptionDef> = {
  'allow-net': {
    type: 'string',
    value: '<rules>',
    description:
      'let the box reach these hosts through the egress proxy, comma-separated: example.com (ports 80, 443), *.pypi.org (subdomains), github.com:22, 127.0.0.1:8080; none by default',
  },
};
