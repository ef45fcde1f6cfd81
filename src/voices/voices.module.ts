import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { VoicesController } from './voices.controller';
import { VoicesService } from './voices.service';

@Module({
  imports: [ProvidersModule, TranscodeModule],
  controllers: [VoicesController],
  providers: [VoicesService],
  exports: [VoicesService],
})
export class VoicesModule {}
