import type * as z from 'zod/mini';

/** At most this many problems are named; the rest are counted. */
const MAX_ISSUES = 5;

/**
 * One line naming each problem of a failed parse, for error messages a person can act on: the
 * key (its dotted path), what was expected, and what was given when the parse reported it
 * (`reportInput`), under the name the caller gives the key. zod/mini carries no message texts ("Invalid input"), so they are made here
 * from the issue's own fields.
 */
export function formatIssues(
  error: z.core.$ZodError,
  options: { keyName?: (path: string) => string } = {},
): string {
  const lines = error.issues.slice(0, MAX_ISSUES).map((issue) => {
    const path = issue.path.map(String).join('.');
    const key = path && options.keyName ? options.keyName(path) : path;
    return key ? `${key}: ${describeIssue(issue)}` : describeIssue(issue);
  });
  const more = error.issues.length - MAX_ISSUES;
  return `${lines.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

/** What one issue says, in words. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const got = 'input' in issue && issue.input !== undefined ? `, got ${show(issue.input)}` : '';
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${article(issue.expected)}${got}`;
    case 'too_small':
      return `must be ${bound(issue.origin, issue.inclusive ? 'at least' : 'more than', issue.minimum)}${got}`;
    case 'too_big':
      return `must be ${bound(issue.origin, issue.inclusive ? 'at most' : 'less than', issue.maximum)}${got}`;
    case 'invalid_value':
      return `expected ${issue.values.map(show).join(' or ')}${got}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(show).join(', ')}`;
    case 'invalid_format':
      return `does not match the ${issue.format === 'regex' ? `pattern ${issue.pattern ?? ''}` : `${issue.format} format`}${got}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}${got}`;
    case 'invalid_union':
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return issue.message === 'Invalid input' ? `invalid value${got}` : issue.message;
  }
}

function bound(origin: string, relation: string, limit: number | bigint): string {
  switch (origin) {
    case 'string':
      return `${relation} ${limit} characters long`;
    case 'array':
    case 'set':
      return `${relation} ${limit} items long`;
    default:
      return `${relation} ${limit}`;
  }
}

function article(expected: string): string {
  switch (expected) {
    case 'int':
      return 'a whole number';
    case 'object':
    case 'array':
      return `an ${expected}`;
    case 'undefined':
    case 'null':
    case 'never':
      return expected === 'never' ? 'nothing here' : expected;
    default:
      return `a ${expected}`;
  }
}

function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
