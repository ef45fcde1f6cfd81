import { nestingDepth } from './json-body';

describe('nestingDepth', () => {
  it('should count brackets outside strings only', () => {
    expect(nestingDepth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(nestingDepth('{"a":"[[[[[[[[["}')).toBe(1);
    expect(nestingDepth('{"a":"\\"[[["}')).toBe(1);
  });

  it('should stop early on hostile depth', () => {
    expect(nestingDepth('['.repeat(100000))).toBe(1001);
  });
});
