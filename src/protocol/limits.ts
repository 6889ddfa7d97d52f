/** Largest frame payload either side accepts or sends: 16 MiB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Bytes of the big-endian u32 length prefix in front of each frame. */
export const FRAME_HEADER_BYTES = 4;
