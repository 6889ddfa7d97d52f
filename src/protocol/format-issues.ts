import type * as z from 'zod/mini';

/** One line naming each problem of a failed parse, for error messages a person can act on. */
export function formatIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) =>
      issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ');
}
