import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { ErrorCode } from '../errors/error-codes';
import { GatewayException } from '../errors/gateway.exception';

/**
 * The global ValidationPipe (whitelist, reject unknown fields, transform), reporting the first problem as a
 * GatewayException that names the field, plus every other problem in the message.
 */
export function createValidationPipe(): ValidationPipe {
  return new BodyObjectValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: true,
    exceptionFactory: (errors) => {
      const problems = flatten(errors);
      const first = problems[0] ?? { field: undefined, message: 'the request body must be a JSON object' };
      return new GatewayException(
        ErrorCode.ValidationFailed,
        problems.map((p) => p.message).join('; ') || first.message,
        {
          field: first.field,
        },
      );
    },
  });
}

function flatten(errors: ValidationError[], prefix = ''): { field: string; message: string }[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.entries(error.constraints ?? {}).map(([rule, message]) => ({
      field,
      message: rule === 'whitelistValidation' ? `unknown field "${field}" (not part of this API)` : message,
    }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * A body that is not a JSON object (an array, a string, nothing at all) is refused with a message that says
 * so, before class-transformer turns `[1]` into a field named "0".
 */
class BodyObjectValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      const got = Array.isArray(value)
        ? 'an array'
        : value === undefined || value === null
          ? 'no body'
          : `a ${typeof value}`;
      throw new GatewayException(
        ErrorCode.ValidationFailed,
        `the request body must be a JSON object (expected an object, got ${got})`,
      );
    }
    return super.transform(value, metadata) as Promise<unknown>;
  }
}
