/** A range of host uids (and the gids of the same numbers), like a subuid range. */
export interface UidRange {
  first: number;
  count: number;
}

/**
 * As root, each box runs as a host uid of its own from this range unless the configuration says
 * `boxUids: false`. Above systemd's container range (524288–1878982656) and below its foreign
 * range (from 0x7FFE0000) and 2^31 (some tools take uid_t as signed): nothing on a usual host
 * uses these, and each uid is still checked free before a box gets it.
 */
export const DEFAULT_BOX_UIDS: UidRange = { first: 0x70000000, count: 65536 };

/**
 * Which host uids boxes run as when IronClaw is root: a range to lease one uid per box from, or
 * false for the one shared `rootBoxUid` (weaker: every box then shares one RLIMIT_NPROC budget).
 */
export type BoxUids = UidRange | false;
