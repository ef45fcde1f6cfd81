import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * The node flags of `npm run start:prod` (package.json), which `npm start` and the Docker image's CMD repeat
 * (test/deploy.e2e-spec.ts holds them equal): the servers the tests and the benchmark start run as a
 * deployed gateway does. None today (README, "After an idle minute": why not `--no-memory-reducer`).
 */
export const START_NODE_FLAGS: readonly string[] = nodeFlagsOf(startScript());

export function startScript(name = 'start:prod'): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return pkg.scripts[name];
}

/** `node --a --b dist/main.js` → `['--a', '--b']`; anything else is an error (the command changed shape). */
export function nodeFlagsOf(command: string): string[] {
  const match = /^node((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/main\.js$/.exec(command.trim());
  if (!match) throw new Error(`not "node [--flags] dist/main.js": ${command}`);
  return match[1].split(/\s+/).filter(Boolean);
}
