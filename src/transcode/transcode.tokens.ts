/** Every registered `AudioEncoderFactory`, gathered by TranscodeModule. */
export const AUDIO_ENCODER_FACTORIES = Symbol('AUDIO_ENCODER_FACTORIES');
