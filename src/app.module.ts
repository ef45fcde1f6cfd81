import { DynamicModule, ExecutionContext, Module } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule, type ThrottlerStorage } from '@nestjs/throttler';
import { ApiKeyGuard } from './auth/api-key.guard';
import { AuthModule } from './auth/auth.module';
import { HttpExceptionFilter } from './common/filters/http-exception.filter';
import { SessionThrottlerGuard } from './common/guards/session-throttler.guard';
import { createValidationPipe } from './common/pipes/validation.pipe';
import {
  appConfig,
  limitsConfig,
  providersConfig,
  resilienceConfig,
  streamingConfig,
  type GatewayConfig,
} from './config/configuration';
import { validateEnv } from './config/env.validation';
import { HealthModule } from './health/health.module';
import { LiveModule } from './live/live.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { ProvidersModule } from './providers/providers.module';
import { SessionsModule } from './sessions/sessions.module';
import { RATE_LIMIT_STORAGE, StateModule } from './state/state.module';
import { SpeechModule } from './speech/speech.module';
import { StreamingModule } from './streaming/streaming.module';
import { SynthesisModule } from './synthesis/synthesis.module';
import { TranscodeModule } from './transcode/transcode.module';
import { VoicesModule } from './voices/voices.module';

/**
 * Composes the feature modules and registers the cross-cutting pipe, filter and guard as APP_* providers,
 * so tests that boot this module run the same pipeline as production. `forRoot()` reads the environment
 * when called (not at import), which lets tests set variables first.
 */
@Module({})
export class AppModule {
  static forRoot(): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          validate: validateEnv,
          load: [appConfig, limitsConfig, streamingConfig, providersConfig, resilienceConfig],
        }),
        LoggingModule.forRoot(),
        StateModule,
        AuthModule,
        ThrottlerModule.forRootAsync({
          inject: [ConfigService, RATE_LIMIT_STORAGE],
          useFactory: (config: ConfigService<GatewayConfig, true>, storage: ThrottlerStorage | undefined) => {
            const perMinute = config.getOrThrow('limits', { infer: true }).sessionsPerMinute;
            // 0 turns the limit off (e.g. behind an API gateway that limits already).
            const fallback = perMinute > 0 ? perMinute : Number.MAX_SAFE_INTEGER;
            return {
              // A key's own sessions_per_minute when it sets one, else RATE_LIMIT_SESSIONS_PER_MINUTE.
              throttlers: [
                {
                  ttl: 60_000,
                  limit: (context: ExecutionContext) =>
                    context.switchToHttp().getRequest<FastifyRequest>().caller?.key?.limits
                      .sessionsPerMinute ?? fallback,
                },
              ],
              // Counted in Redis with REDIS_URL (one budget across replicas), else in process.
              ...(storage ? { storage } : {}),
            };
          },
        }),
        MetricsModule,
        HealthModule,
        ProvidersModule,
        TranscodeModule,
        SynthesisModule,
        VoicesModule,
        SessionsModule,
        StreamingModule,
        SpeechModule,
        LiveModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        // Who is calling first (API keys), then how often (the rate limit keys on the caller).
        { provide: APP_GUARD, useExisting: ApiKeyGuard },
        { provide: APP_GUARD, useClass: SessionThrottlerGuard },
      ],
    };
  }
}
