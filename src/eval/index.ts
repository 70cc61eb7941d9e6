export { parseQrels, parseRun, runFromLists, type Qrels, type Run } from './parse.js';
export { evaluate, measureNames, Evaluation, type EvaluateOptions, type MeasureValue } from './evaluate.js';
