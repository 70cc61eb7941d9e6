/**
 * A concurrency limit with a bounded wait queue: at most `concurrency` holders at once, at most `queue`
 * waiters behind them; the next caller is refused at once (429) rather than piling up latency and memory.
 */
import { GpurankError } from '../errors.js';

/** The wait queue is full. */
export class QueueFullError extends GpurankError {
  constructor(queue: number) {
    super(`the server is busy: ${queue} requests are already waiting; retry later`, { code: 'QUEUE_FULL', statusCode: 429 });
  }
}

export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  /** Requests holding a slot. */
  get inFlight(): number {
    return this.active;
  }

  /** Requests waiting for a slot. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Resolves once a slot is held (call `release` after); rejects when full or when `signal` aborts while waiting. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.queue) return Promise.reject(new QueueFullError(this.queue));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Hands the slot to the oldest waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
