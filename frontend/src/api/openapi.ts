/**
 * Reads which fields `POST /v1/tts/sessions` accepts from the gateway's OpenAPI document (`/docs-json`), so
 * the page offers options (say `pace`) only where this gateway has them: it rejects unknown fields.
 */
export function sessionRequestFields(doc: unknown): Set<string> {
  const fields = new Set<string>();
  const root = doc as { paths?: Record<string, any>; components?: { schemas?: Record<string, any> } } | null;
  const body = root?.paths?.['/v1/tts/sessions']?.post?.requestBody?.content?.['application/json']?.schema;
  const seen = new Set<unknown>();
  const visit = (schema: any): void => {
    if (!schema || typeof schema !== 'object' || seen.has(schema)) return;
    seen.add(schema);
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.split('/').pop() as string;
      visit(root?.components?.schemas?.[name]);
      return;
    }
    for (const key of Object.keys(schema.properties ?? {})) fields.add(key);
    for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])])
      visit(part);
  };
  visit(body);
  return fields;
}
