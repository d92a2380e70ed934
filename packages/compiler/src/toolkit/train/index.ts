/**
 * @file Training: compile a model + optimizer into a program (`buildTrainingProgram`), run it on
 * a back end (`createTrainer`), and measure it (`accuracy`, running means).
 */
export { buildTrainingProgram, EVALUATE, FORWARD, TRAIN_STEP, type TrainingProgramOptions } from "./program.js";
export { createTrainer, hyperValues, resolveBackend, type EvaluateResult, type StepOptions, type StepResult, type Trainer, type TrainerOptions } from "./trainer.js";
export { accuracy, addToMean, predictions, regressionMetrics, runningMean, type AccuracyOptions, type ArrayWithShape, type RegressionMetrics, type RunningMean } from "./metrics.js";
export { applyStandardizer, fitStandardizer, standardizedModel, STANDARDIZE_MEAN, STANDARDIZE_STD, type Standardizer } from "./standardize.js";
export {
  attachScheduler,
  cosineAnnealingLR,
  createScheduler,
  exponentialLR,
  formatSchedule,
  linearLR,
  lrSequence,
  multiStepLR,
  oneCycleLR,
  parseLrSchedule,
  reduceLROnPlateau,
  stepLR,
  stepsPerBatch,
  type LearningRateTarget,
  type Scheduler,
  type SchedulerContext,
  type SchedulerSpec,
} from "./schedulers.js";
