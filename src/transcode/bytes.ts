import { concatTyped } from '../common/concat';

/** Joins byte chunks into one array (returns the single part itself when there is only one). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return concatTyped(parts, (length) => new Uint8Array(length));
}
