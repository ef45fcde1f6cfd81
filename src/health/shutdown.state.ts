import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** Set when shutdown begins, so readiness turns 503 and load balancers stop sending new sessions. */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  draining = false;

  beforeApplicationShutdown(): void {
    this.draining = true;
  }
}
