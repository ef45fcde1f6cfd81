/** DI tokens of the providers module. Symbols, never bare strings. */
export const TTS_PROVIDERS = Symbol('TTS_PROVIDERS');
