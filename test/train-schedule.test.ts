import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { linearSchedule, warmupSteps } from '../src/train/schedule.js';

interface ScheduleCase { lr: number; warmup: number; total: number; warmup_steps: number; lrs: number[] }
const golden = JSON.parse(readFileSync(new URL('./fixtures/goldens/adamw-small.json', import.meta.url), 'utf8')) as { schedules: ScheduleCase[] };

describe('linearSchedule', () => {
  for (const c of golden.schedules) {
    it(`equals transformers' get_linear_schedule_with_warmup (lr ${c.lr}, warmup ${c.warmup}, total ${c.total}) exactly`, () => {
      expect(warmupSteps(c.warmup, c.total)).toBe(c.warmup_steps);
      const lr = linearSchedule(c);
      // Bit-exact: the same f64 operations in the same order as Python.
      expect(c.lrs.map((_, s) => lr(s))).toEqual(c.lrs);
    });
  }

  it('starts at 0 with warmup, at the peak without, and ends at 0', () => {
    expect(linearSchedule({ lr: 1, warmup: 2, total: 4 })(0)).toBe(0);
    expect(linearSchedule({ lr: 1, warmup: 0, total: 4 })(0)).toBe(1);
    expect(linearSchedule({ lr: 1, warmup: 2, total: 4 })(2)).toBe(1);
    expect(linearSchedule({ lr: 1, warmup: 0, total: 4 })(4)).toBe(0);
  });

  it('rejects bad options and steps with InputError', () => {
    const bad: [object, RegExp][] = [
      [{ lr: -1, warmup: 0, total: 3 }, /lr must be/],
      [{ lr: NaN, warmup: 0, total: 3 }, /lr must be/],
      [{ lr: 1, warmup: 0, total: 0 }, /total steps/],
      [{ lr: 1, warmup: 0, total: 2.5 }, /total steps/],
      [{ lr: 1, warmup: -0.1, total: 3 }, /warmup must be/],
      [{ lr: 1, warmup: 2.5, total: 3 }, /neither a fraction/],
    ];
    for (const [o, message] of bad) {
      expect(() => linearSchedule(o as never)).toThrow(InputError);
      expect(() => linearSchedule(o as never)).toThrow(message);
    }
    const lr = linearSchedule({ lr: 1, warmup: 0, total: 3 });
    expect(() => lr(-1)).toThrow(/step must be an integer/);
    expect(() => lr(0.5)).toThrow(InputError);
  });
});
