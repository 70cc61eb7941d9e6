/**
 * `gpurank/elasticsearch`: reranking for Elasticsearch and OpenSearch clients (`withReranking`), hard-negative
 * mining from the engine's candidates (`mineCandidates`), and the fusion helpers they use. Hits come back
 * from the engine ranked by `_score`; `rrf` and `blend` fuse that first-stage order with the reranker's.
 */
export {
  withReranking,
  hitText,
  inferQuery,
  RerankFailedError,
  type BlendSpec,
  type FieldSpec,
  type RerankAnnotation,
  type RerankInfo,
  type RerankRequest,
  type RerankingClient,
  type RerankingOptions,
  type Scorer,
} from './wrapper.js';
export { mineCandidates, type MineOptions, type MineResult, type TrainingExample } from './mine.js';
export { rrf, blend, type BlendOptions, type BlendResult, type FusedList, type Normalization } from '../core/fusion.js';
export { loadCore } from '../core/wasm.js';
