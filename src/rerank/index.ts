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
