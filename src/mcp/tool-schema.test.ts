import { expect, test } from 'vitest';
import * as z from 'zod/mini';
import { toolSchema } from './tool-schema.js';

const Schema = z.object({
  name: z.string().check(z.describe('who')),
  count: z.optional(z.number().check(z.int())),
});

test('adds a JSON Schema converter to a zod/mini schema, descriptions included', () => {
  const standard = toolSchema(Schema)['~standard'];
  expect(standard.jsonSchema.input({ target: 'draft-2020-12' })).toMatchObject({
    type: 'object',
    properties: { name: { type: 'string', description: 'who' }, count: { type: 'integer' } },
    required: ['name'],
  });
  expect(standard.jsonSchema.output({ target: 'draft-07' })).toMatchObject({ type: 'object' });
  expect(() => standard.jsonSchema.input({ target: 'draft-03' as 'draft-07' })).toThrow(/draft-03/);
});

test("validates with zod's own checks", async () => {
  const standard = toolSchema(Schema)['~standard'];
  expect(await standard.validate({ name: 'a', count: 2 })).toEqual({
    value: { name: 'a', count: 2 },
  });
  const failed = await standard.validate({ name: 1 });
  expect(failed.issues?.[0]?.path).toEqual(['name']);
});
