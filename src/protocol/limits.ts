/** Largest frame payload either side accepts or sends: 16 MiB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Bytes of the big-endian u32 length prefix in front of each frame. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Bytes a side may send on one stream before the receiver says it has passed them on. The
 * receiver holds at most this much per stream, so a bulk transfer costs memory in proportion
 * to its streams, never to its size, and the frames of all streams in the channel at once stay
 * bounded too, so requests on the same channel keep moving.
 */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/** The largest piece of data one frame carries (base64 in JSON: a third more on the wire). */
export const STREAM_CHUNK_BYTES = 32 * 1024;
