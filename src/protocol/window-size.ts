import * as z from 'zod/mini';

/** A terminal's size in character cells, as TIOCSWINSZ takes it (unsigned 16-bit fields). */
const Cells = z.number().check(z.int(), z.gte(1), z.lte(65535));

export const WindowSizeSchema = z.object({ rows: Cells, cols: Cells });
export type WindowSize = z.infer<typeof WindowSizeSchema>;
