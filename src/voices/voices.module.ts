import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { ProvidersController } from './providers.controller';
import { VoicesController } from './voices.controller';
import { VoicesService } from './voices.service';

@Module({
  imports: [ProvidersModule, TranscodeModule, SynthesisModule],
  controllers: [VoicesController, ProvidersController],
  providers: [VoicesService],
  exports: [VoicesService],
})
export class VoicesModule {}
