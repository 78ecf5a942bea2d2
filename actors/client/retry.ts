/**
 * Exponential backoff with full jitter (by default), capped per delay and bounded
 * overall by a deadline. Pure policy: the clock, the sleep and the random source
 * are injected, so tests replay exact delays.
 * Only errors that say so (`WoodsError.retryable`) are retried.
 */
import { WoodsError } from "../../messages/index.js";

/** The `client.retry` config block. */
export interface RetryPolicy {
  /** Total attempts including the first one. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Fraction of each delay that is random: 0 = fixed delays, 1 = full jitter. */
  jitter: number;
  /**
   * Overall time limit of one operation's retries, measured from the first attempt:
   * no retry is scheduled whose delay would end past it. Absent = no limit but maxAttempts.
   */
  deadlineMs?: number;
}

export interface RetryOptions {
  /** Called before each wait, with the error that caused it. */
  onRetry?: (error: WoodsError, attempt: number, delayMs: number) => void;
  /** Called once when retrying stops because of the deadline, with the error being rethrown. */
  onDeadline?: (error: WoodsError, attempt: number, elapsedMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Uniform random source in [0, 1). */
  rng?: () => number;
  /** Monotonic milliseconds for the deadline (default `performance.now`). */
  nowMs?: () => number;
}

/** Sleeps `ms` milliseconds on the real clock. */
export function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Delay after the `attempt`-th failed attempt (1-based): base·2^(attempt-1), capped at
 * maxDelayMs, of which the `jitter` fraction is scaled by `random` (in [0, 1)).
 * With jitter 1 this is "full jitter": uniform in [0, capped), which spreads the
 * retries of many clients that failed together (a namenode restart) over time.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52); // 2^52 already dwarfs any cap
  const capped = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const fixed = capped * (1 - policy.jitter);
  return Math.round(fixed + capped * policy.jitter * random);
}

/** True when a retry that waits `delayMs` now, `elapsedMs` after the first attempt began, would end past the deadline. */
export function passesDeadline(policy: RetryPolicy, elapsedMs: number, delayMs: number): boolean {
  return policy.deadlineMs !== undefined && elapsedMs + delayMs > policy.deadlineMs;
}

/** True when the retry policy may try again after `e`. */
export function isRetryable(e: unknown): e is WoodsError {
  return e instanceof WoodsError && e.retryable;
}

/**
 * Runs `fn` until it succeeds, throws a non-retryable error, `maxAttempts` are used, or the
 * next delay would end past `deadlineMs`; the last error is rethrown unchanged so callers
 * still see its code.
 */
export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const rng = options.rng ?? Math.random;
  const nowMs = options.nowMs ?? (() => performance.now());
  const maxAttempts = Math.max(1, policy.maxAttempts);
  const startedMs = nowMs();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isRetryable(e) || attempt >= maxAttempts) throw e;
      const delayMs = retryDelayMs(policy, attempt, rng());
      const elapsedMs = nowMs() - startedMs;
      if (passesDeadline(policy, elapsedMs, delayMs)) {
        options.onDeadline?.(e, attempt, elapsedMs);
        throw e;
      }
      options.onRetry?.(e, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
