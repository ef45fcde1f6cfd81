import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * Set when shutdown begins (SIGTERM, or the application closing), so readiness turns 503, new sessions get
 * `shutting_down`, and load balancers send new work elsewhere while running streams finish.
 */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  draining = false;

  beginDrain(): void {
    this.draining = true;
  }

  beforeApplicationShutdown(): void {
    this.draining = true;
  }
}
