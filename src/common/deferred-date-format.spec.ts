describe('deferred-date-format', () => {
  const Real = Intl.DateTimeFormat;
  let built: unknown[][];

  beforeEach(() => {
    built = [];
    // Counts every real formatter built, from here on, in a fresh module registry.
    Intl.DateTimeFormat = new Proxy(Real, {
      construct(target, args: unknown[], newTarget: (...a: unknown[]) => unknown) {
        built.push(args);
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
  });

  afterEach(() => {
    Intl.DateTimeFormat = Real;
  });

  it('should build formatters when @nestjs/common loads without it (what it saves)', () => {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@nestjs/common');
    });
    expect(built.length).toBeGreaterThan(0);
  });

  it('should load @nestjs/common without building a formatter, and leave Intl.DateTimeFormat as it was', () => {
    const counting = Intl.DateTimeFormat;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('./deferred-date-format');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@nestjs/common');
    });
    expect(built).toEqual([]);
    expect(Intl.DateTimeFormat).toBe(counting);
    expect(new Intl.DateTimeFormat('en-US').format(0)).toBe(new Real('en-US').format(0));
  });

  it("should still stamp Nest's console logger lines, building the real formatter on first use", () => {
    let logged = '';
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('./deferred-date-format');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { ConsoleLogger } = require('@nestjs/common') as typeof import('@nestjs/common');
      const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        logged += String(chunk);
        return true;
      });
      try {
        new ConsoleLogger('Spec', { colors: false }).log('hello');
      } finally {
        write.mockRestore();
      }
    });
    expect(built.length).toBeGreaterThan(0);
    // The date part of Nest's own timestamp format.
    const expected = new Real(undefined, {
      year: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      day: '2-digit',
      month: '2-digit',
    })
      .format(Date.now())
      .split(',')[0];
    expect(logged).toContain('hello');
    expect(logged).toContain(expected);
  });
});
