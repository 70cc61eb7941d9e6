/**
 * The training API: `train()` (what `gpurank train` runs) and the pieces it is built from, for callers that
 * drive their own loop — data, sampler, losses, optimizer, schedule, checkpoints, report, and the graph.
 */
export {
  train,
  TRAIN_DEFAULTS,
  TrainingDivergedError,
  evalLine,
  keepLayers,
  rankingMetrics,
  scoreLists,
  stepSeed,
  type EvalLog,
  type ResolvedTrainOptions,
  type StepLog,
  type TrainHooks,
  type TrainOptions,
  type TrainResult,
  type TrainStart,
} from './trainer.js';
export { loadTrainingData, type ListExample, type LoadTrainingDataOptions } from './data.js';
export { ListSampler, type ListSamplerOptions, type ListSamplerState } from './sampler.js';
export {
  LOSS_NAMES,
  Losses,
  checkLossInput,
  lossCpu,
  lossNeedsPositive,
  lossNeedsTeacher,
  resolveLossOptions,
  type LambdaScheme,
  type LossName,
  type LossOptions,
} from './losses.js';
export { AdamW, decaysWeight, type AdamWOptions } from './optimizer.js';
export { linearSchedule, warmupSteps, type LinearScheduleOptions } from './schedule.js';
export {
  CheckpointError,
  loadCheckpoint,
  saveCheckpoint,
  type CheckpointContents,
  type LoadedCheckpoint,
  type OptimizerState,
} from './checkpoint.js';
export { crossEncoderFromModel, type CrossEncoderInitOptions } from './init.js';
export { renderReport, writeReport, type ReportData } from './report.js';
export { BertTrainGraph, configDropout, type BertTrainOptions, type DropoutRates } from '../model/bert-train.js';
