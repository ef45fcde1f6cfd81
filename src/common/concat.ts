/** The parts of one typed-array kind back to back (the part itself when there is one). */
export function concatTyped<T extends Uint8Array | Int16Array>(
  parts: readonly T[],
  create: (length: number) => T,
): T {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const part of parts) length += part.length;
  const out = create(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
