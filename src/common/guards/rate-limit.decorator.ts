import { SetMetadata } from '@nestjs/common';

export const RATE_LIMITED_ROUTE = Symbol('RATE_LIMITED_ROUTE');

/** Marks a route as counted against the per-client session-creation limit (label for tts_rate_limited_total). */
export const SessionCreationLimit = (route: string) => SetMetadata(RATE_LIMITED_ROUTE, route);
