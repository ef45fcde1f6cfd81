import { describe, expect, it } from 'vitest';
import { sessionRequestFields } from './openapi';

describe(sessionRequestFields.name, () => {
  it('should list the properties of the session request, following $ref and allOf', () => {
    const doc = {
      paths: {
        '/v1/tts/sessions': {
          post: {
            requestBody: {
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Create' } } },
            },
          },
        },
      },
      components: {
        schemas: {
          Create: {
            allOf: [{ $ref: '#/components/schemas/Base' }, { properties: { pace: { type: 'string' } } }],
          },
          Base: { properties: { text: {}, target_format: {} } },
        },
      },
    };
    expect([...sessionRequestFields(doc)].sort()).toEqual(['pace', 'target_format', 'text']);
  });

  it('should give nothing for a document without the route', () => {
    expect(sessionRequestFields({}).size).toBe(0);
    expect(sessionRequestFields(null).size).toBe(0);
  });
});
