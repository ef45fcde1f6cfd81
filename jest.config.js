// Unit specs sit beside the code (src/ ... .spec.ts); e2e specs boot a listening app (test/ ... .e2e-spec.ts).
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
// A few dependencies ship ESM only (content-disposition 3, pulled by @fastify/static 10). Node >= 20.19
// loads them with require(esm), but Jest's module loader does not before Node 24.9, so Jest compiles them.
const ESM_ONLY = ['content-disposition'];
const common = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: {
    '^.+\\.ts$': tsJest,
    [`node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  testEnvironment: 'node',
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', rootDir: 'src', testRegex: '.*\\.spec\\.ts$' },
    { ...common, displayName: 'e2e', rootDir: 'test', testRegex: '.*\\.e2e-spec\\.ts$' },
  ],
  testTimeout: 30000,
};
