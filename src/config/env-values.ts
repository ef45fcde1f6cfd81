/**
 * Reading validated environment values (`validateEnv` checked them) with their defaults, the same way in
 * every configuration namespace: an unset or empty variable means the default.
 */
export const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const int = (value: string | undefined, fallback: number): number =>
  value ? Number(value) : fallback;

/** `1`, `true`, `yes`, `on` (any case). */
export const flag = (value: string | undefined): boolean =>
  ['1', 'true', 'yes', 'on'].includes((value ?? '').toLowerCase());
