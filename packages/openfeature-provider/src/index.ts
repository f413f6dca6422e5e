export { SluiceProvider, type SluiceProviderOptions } from './sluice-provider.js';
