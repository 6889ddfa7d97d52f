import type { StandardSchemaWithJSON } from '@modelcontextprotocol/server';
import * as z from 'zod/mini';

type Target = 'draft-2020-12' | 'draft-7' | 'openapi-3.0';

const TARGETS: Record<string, Target> = {
  'draft-2020-12': 'draft-2020-12',
  'draft-07': 'draft-7',
  'openapi-3.0': 'openapi-3.0',
};

/**
 * Makes a zod/mini schema a tool schema for the SDK. zod/mini implements Standard Schema's
 * `validate` but not its `jsonSchema` converter, which the SDK needs to advertise a tool's
 * arguments; without it the SDK falls back to classic zod and warns on the console. This adds the
 * converter, built on zod's own `toJSONSchema`, so the MCP layer keeps the project's one zod flavour.
 */
export function toolSchema<T extends z.ZodMiniType>(
  schema: T,
): StandardSchemaWithJSON<z.input<T>, z.output<T>> {
  const standard = schema['~standard'];
  const convert =
    (io: 'input' | 'output') =>
    (options: { target: string }): Record<string, unknown> => {
      const target = TARGETS[options.target];
      if (target === undefined)
        throw new Error(`no JSON Schema conversion to ${options.target} for tool schemas`);
      return z.toJSONSchema(schema, { target, io });
    };
  return {
    '~standard': {
      version: standard.version,
      vendor: standard.vendor,
      validate: (value) => standard.validate(value),
      jsonSchema: { input: convert('input'), output: convert('output') },
    },
  };
}
