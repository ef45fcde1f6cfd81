import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import { ApiErrorResponses } from '../common/openapi/api-errors';

/** `GET /metrics` (Prometheus text), documented; the admin-key requirement attaches here. */
@ApiTags('operations')
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  @ApiOperation({
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    description:
      'Gateway series (`tts_*`: sessions, active streams by route, bytes, time to first audio, provider requests and circuits, rate limiting, resume buffers, HTTP requests) and Node process metrics.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format', schema: { type: 'string' } })
  @ApiErrorResponses(401)
  override index(@Res({ passthrough: true }) response: unknown): Promise<string> {
    return super.index(response);
  }
}
