/** Where the box's processes find the egress proxy: its own loopback, bridged to the host. */
export const EGRESS_PORT = 3128;
/** The proxy's Unix socket as the box sees it (bound in by the driver). */
export const EGRESS_SOCKET_IN_BOX = '/run/ironclaw/egress.sock';

/**
 * The variables that send tools through the proxy: HTTP(S) by the usual names in both cases,
 * SOCKS with names resolved by the proxy (socks5h), and an empty NO_PROXY, so that nothing, the
 * box's own loopback included, goes around it (there is no route around it anyway). npm and
 * pip read their own names. Node's fetch follows the variables only with NODE_USE_ENV_PROXY,
 * which is in COMMAND_EGRESS_ENV, not here.
 */
export function egressEnv(port: number = EGRESS_PORT): Record<string, string> {
  const http = `http://127.0.0.1:${port}`;
  const socks = `socks5h://127.0.0.1:${port}`;
  return {
    HTTP_PROXY: http,
    HTTPS_PROXY: http,
    http_proxy: http,
    https_proxy: http,
    ALL_PROXY: socks,
    all_proxy: socks,
    NO_PROXY: '',
    no_proxy: '',
    npm_config_proxy: http,
    npm_config_https_proxy: http,
    PIP_PROXY: http,
  };
}

/**
 * Variables for the box's commands but not for the guest agent: the agent adds them to the
 * environment its commands inherit once the bridge is up (guest/net-bridge.ts). Node reads
 * NODE_USE_ENV_PROXY at start-up and, with a proxy set, loads its proxy agent there: that made
 * `node -e 0` take 2.4 times as long (823 -> 1977 ms on a loaded 2-core machine), and the
 * agent, which makes no HTTP request, paid it on every box start with --allow-net.
 */
export const COMMAND_EGRESS_ENV: Readonly<Record<string, string>> = { NODE_USE_ENV_PROXY: '1' };
