/**
 * `gpurank/elasticsearch`: the pieces a search-engine integration combines with reranker scores.
 * Hits come back from the engine ranked by `_score`; these fuse that first-stage order with the
 * reranker's, by reciprocal rank fusion or a normalised linear blend.
 */
export { rrf, blend, type BlendOptions, type BlendResult, type FusedList, type Normalization } from '../core/fusion.js';
export { loadCore } from '../core/wasm.js';
