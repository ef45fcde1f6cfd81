import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ProviderResilienceService } from '../synthesis/provider-resilience.service';
import { ApiErrorResponses } from '../common/openapi/api-errors';
import { ProviderListDto } from './voices.dto';
import { VoicesService } from './voices.service';

/** `GET /v1/providers`: each engine's health, circuit and load, for operators and clients choosing one. */
@ApiTags('providers')
@Controller('v1/providers')
export class ProvidersController {
  constructor(
    private readonly voices: VoicesService,
    private readonly resilience: ProviderResilienceService,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'listProviders',
    summary: 'Providers with status, circuit, load and voice count',
    description:
      '`status` is the engine health (down with a `reason`), `circuit` the breaker state on this replica (with `retry_after_s` while open), `in_flight`/`queued` its bulkhead.',
  })
  @ApiOkResponse({ type: ProviderListDto })
  @ApiErrorResponses(401)
  async list(): Promise<ProviderListDto> {
    const entries = await this.voices.catalog();
    return {
      providers: entries.map(({ provider, voices, unavailableReason }) => {
        const load = this.resilience.load(provider.id);
        const concurrency = this.resilience.policyOf(provider.id).concurrency;
        return {
          id: provider.id,
          name: provider.displayName,
          status: unavailableReason ? 'down' : 'up',
          ...(unavailableReason ? { reason: unavailableReason } : {}),
          circuit: load.circuit,
          ...(load.retryAfterSeconds !== undefined ? { retry_after_s: load.retryAfterSeconds } : {}),
          in_flight: load.inFlight,
          queued: load.queued,
          ...(concurrency !== undefined ? { concurrency } : {}),
          voice_count: voices.length,
        };
      }),
    };
  }
}
