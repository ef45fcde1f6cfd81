import { ApiProperty } from '@nestjs/swagger';

export class ModelDto {
  @ApiProperty({ example: 'tts-1' }) id: string;
  @ApiProperty({ example: 'model' }) object: 'model';
  @ApiProperty({ example: 1767225600, description: 'Unix seconds.' }) created: number;
  @ApiProperty({ example: 'tts-gateway' }) owned_by: string;
}

export class ModelListDto {
  @ApiProperty({ example: 'list' }) object: 'list';
  @ApiProperty({ type: [ModelDto] }) data: ModelDto[];
}

export class SpeechVoiceListDto {
  @ApiProperty({ type: [String], example: ['alloy', 'nova', 'en-us', 'en-us+f3'] }) voices: string[];
}
