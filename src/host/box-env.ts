/*
 * What every box sees the same way, whatever the driver: where the guest agent lives, the box's
 * own /etc files, its user, hostname and environment.
 */

export const AGENT_PATH = '/.ironclaw/agent.mjs';

/** The box's own /etc files, shipped in the package's box/etc/ (no host user data in them). */
export const BOX_ETC_FILES = [
  'group',
  'hostname',
  'hosts',
  'nsswitch.conf',
  'passwd',
  'resolv.conf',
] as const;
export const BOX_UID = 1000;
export const BOX_HOSTNAME = 'ironclaw';

/** The environment of every box: nothing from the host. */
export const BOX_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/tmp',
  USER: 'sandbox',
  LOGNAME: 'sandbox',
  SHELL: '/bin/sh',
  LANG: 'C.UTF-8',
  TERM: 'dumb',
};
