import { errorMessageFromBody, redact } from './http';
import { RequestQueue } from './request-queue';

describe('errorMessageFromBody', () => {
  it.each([
    [
      'OpenAI envelope',
      '{"error":{"message":"Invalid voice","type":"invalid_request_error"}}',
      'Invalid voice',
    ],
    ['Coqui idiap', '{"error":"Text parameter is required"}', 'Text parameter is required'],
    ['FastAPI detail string', '{"detail":"Not Found"}', 'Not Found'],
    [
      'Kokoro detail object',
      '{"detail":{"error":"validation_error","message":"Voice not found"}}',
      'Voice not found',
    ],
    ['FastAPI 422 list', '{"detail":[{"loc":["body","input"],"msg":"field required"}]}', 'field required'],
  ])('should extract the message of a %s', (_label, body, expected) => {
    expect(errorMessageFromBody(body, 'application/json')).toBe(expected);
  });

  it("should reduce Flask's HTML 500 page to its heading and first paragraph", () => {
    const html =
      '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n' +
      '<p>The server encountered an internal error and was unable to complete your request.</p>\n';
    expect(errorMessageFromBody(html, 'text/html; charset=utf-8')).toBe(
      'Internal Server Error: The server encountered an internal error and was unable to complete your request.',
    );
  });

  it('should truncate long plain text', () => {
    expect(errorMessageFromBody('x'.repeat(1000), 'text/plain').length).toBeLessThanOrEqual(301);
  });
});

describe('redact', () => {
  it('should remove the key itself and masked keys that leak its tail', () => {
    const key = 'sk-test-0123456789abcdef';
    expect(redact(`Incorrect API key provided: ${key}.`, [key])).not.toContain('0123456789');
    expect(redact('Incorrect API key provided: sk-proj-****cdef. You can find your key', [])).not.toContain(
      'cdef',
    );
    expect(redact('custom-secret-value rejected', ['custom-secret-value'])).toBe('[redacted] rejected');
  });
});

describe(RequestQueue.name, () => {
  it('should run one task at a time in order and drop an aborted waiter', async () => {
    const queue = new RequestQueue(1);
    const order: string[] = [];
    let release!: () => void;
    const first = queue.run(new AbortController().signal, async () => {
      order.push('a');
      await new Promise<void>((r) => (release = r));
    });
    const aborted = new AbortController();
    const second = queue.run(aborted.signal, () => Promise.resolve(order.push('b')));
    const third = queue.run(new AbortController().signal, () => Promise.resolve(order.push('c')));
    expect(queue.load).toEqual({ active: 1, waiting: 2 });
    aborted.abort(new Error('gone'));
    await expect(second).rejects.toThrow('gone');
    expect(queue.load).toEqual({ active: 1, waiting: 1 });
    release();
    await Promise.all([first, third]);
    expect(order).toEqual(['a', 'c']);
    expect(queue.load).toEqual({ active: 0, waiting: 0 });
  });
});
