/**
 * Learning-rate schedule: linear warmup from 0, then linear decay to 0, exactly as transformers'
 * `get_linear_schedule_with_warmup` (the HF Trainer's default), evaluated in f64 like Python does.
 */
import { InputError } from '../errors.js';

export interface LinearScheduleOptions {
  /** Peak learning rate (reached at the end of warmup). */
  lr: number;
  /**
   * Warmup length. A value below 1 is a fraction of `total` and becomes `ceil(total * warmup)` steps
   * (the HF Trainer's rule for `warmup_steps < 1`); 1 or more is a step count and must be an integer.
   */
  warmup: number;
  /** Number of optimizer steps of the whole run. */
  total: number;
}

/** Warmup in steps, as the HF Trainer's `get_warmup_steps` resolves it. */
export function warmupSteps(warmup: number, total: number): number {
  if (!Number.isFinite(warmup) || warmup < 0) throw new InputError(`warmup must be a number >= 0, got ${warmup}`, { code: 'SCHEDULE_INVALID' });
  if (warmup < 1) return Math.ceil(total * warmup);
  if (!Number.isInteger(warmup)) {
    throw new InputError(`warmup ${warmup} is neither a fraction below 1 nor a whole number of steps`, { code: 'SCHEDULE_INVALID' });
  }
  return warmup;
}

/**
 * The learning rate for 0-based optimizer step `s` (the value the optimizer uses for its (s+1)-th
 * update). With warmup > 0, step 0 gets lr 0, as in HF. Steps at or past `total` get 0.
 */
export function linearSchedule(o: LinearScheduleOptions): (step: number) => number {
  if (!Number.isFinite(o.lr) || o.lr < 0) throw new InputError(`lr must be a finite number >= 0, got ${o.lr}`, { code: 'SCHEDULE_INVALID' });
  if (!Number.isInteger(o.total) || o.total < 1) throw new InputError(`total steps must be an integer >= 1, got ${o.total}`, { code: 'SCHEDULE_INVALID' });
  const warmup = warmupSteps(o.warmup, o.total);
  const { lr, total } = o;
  return (step: number): number => {
    if (!Number.isInteger(step) || step < 0) throw new InputError(`schedule step must be an integer >= 0, got ${step}`, { code: 'SCHEDULE_INVALID' });
    const factor = step < warmup ? step / Math.max(1, warmup) : Math.max(0, (total - step) / Math.max(1, total - warmup));
    return lr * factor;
  };
}
