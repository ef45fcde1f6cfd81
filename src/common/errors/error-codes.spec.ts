import { ErrorCode, httpStatusOf, wsCloseCodeOf } from './error-codes';

describe('error codes', () => {
  it('should give every code a 4xx/5xx status and a 4xxx close code', () => {
    for (const code of Object.values(ErrorCode)) {
      const status = httpStatusOf(code);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(wsCloseCodeOf(code)).toBe(4000 + status);
    }
  });

  it('should use the contract close codes', () => {
    expect(wsCloseCodeOf(ErrorCode.SessionNotFound)).toBe(4404);
    expect(wsCloseCodeOf(ErrorCode.Cancelled)).toBe(4499);
    expect(httpStatusOf(ErrorCode.RateLimited)).toBe(429);
    expect(httpStatusOf(ErrorCode.ProviderUnavailable)).toBe(503);
  });
});
