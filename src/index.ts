/**
 * gpurank's library entry. The pure-computation pieces (tokenizer, batch plans, ranking, fusion,
 * metrics) run in the Rust/WASM core: `await loadCore()` once before the synchronous ones
 * (`Tokenizer.from*` loads it for you).
 */
export { GpurankError, InputError, ModelLoadError, WasmLoadError } from './errors.js';
export { loadCore } from './core/wasm.js';
export * from './rerank/index.js';
export { loadModel, type LoadedModel } from './model/load.js';
export {
  Tokenizer,
  TokenizeError,
  batchRow,
  TRUNCATION_STRATEGIES,
  type EncodeOptions,
  type EncodedBatch,
  type TruncationStrategy,
} from './core/tokenizer.js';
export { planBatches, paddingWaste, toInputOrder, type BatchPlan, type PlanOptions, type PlannedBatch } from './core/plan.js';
export { argsortDesc, topK, type Ranking, type Scores } from './core/ranking.js';
export { rrf, blend, type BlendOptions, type BlendResult, type FusedList, type Normalization } from './core/fusion.js';
export * from './eval/index.js';
export * from './gpu/index.js';
export * from './train/index.js';
