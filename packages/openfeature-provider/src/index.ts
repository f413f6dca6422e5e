export { SluiceProvider, type SluiceProviderOptions } from './sluice-provider.js';
export { VariantReporter, type VariantReportOptions } from './variant-reporter.js';
