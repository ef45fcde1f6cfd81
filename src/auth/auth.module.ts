import { Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeysService } from './api-keys.service';
import { authConfig } from './auth.config';
import { AuthController } from './auth.controller';
import { UsageService } from './usage.service';
import { WsTokens } from './ws-tokens';

/**
 * API keys and tenancy: who may call (the guard), what each key may do (limits, usage), and the WebSocket
 * tokens browsers carry in a URL. Global, because every feature asks who the caller is.
 */
@Global()
@Module({
  imports: [ConfigModule.forFeature(authConfig)],
  controllers: [AuthController],
  providers: [ApiKeysService, ApiKeyGuard, UsageService, WsTokens],
  exports: [ApiKeysService, ApiKeyGuard, UsageService, WsTokens, ConfigModule],
})
export class AuthModule {}
