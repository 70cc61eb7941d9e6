export {
  Reranker,
  RerankAbortedError,
  RerankTimeoutError,
  documentText,
  type CallOptions,
  type Dtype,
  type RerankOptions,
  type RerankResult,
  type RerankerOptions,
} from './reranker.js';
export { scoreCandidates, byScore, type CandidateQuery } from './candidates.js';
