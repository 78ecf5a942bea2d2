import test from "ava";
import { WoodsError } from "../../messages/index.js";
import { withRetry, retryDelayMs, type RetryPolicy } from "../../actors/client/retry.js";

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0 };

/** A seeded xorshift32 in [0, 1). */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

test("a retryable error is retried until the call succeeds", async (t) => {
  const { delays, sleep } = recorder();
  let calls = 0;
  const result = await withRetry(
    policy,
    async () => {
      calls++;
      if (calls < 3) throw new WoodsError("UNAVAILABLE", "namenode restarting");
      return "done";
    },
    { sleep, rng: () => 0 },
  );
  t.is(result, "done");
  t.is(calls, 3);
  t.deepEqual(delays, [100, 200]);
});

test("a non-retryable error is thrown at once without waiting", async (t) => {
  const { delays, sleep } = recorder();
  let calls = 0;
  const err = await t.throwsAsync(
    withRetry(
      policy,
      async () => {
        calls++;
        throw new WoodsError("EXISTS", "/a exists");
      },
      { sleep },
    ),
  );
  t.is((err as WoodsError).code, "EXISTS");
  t.is(calls, 1);
  t.deepEqual(delays, []);
});

test("an error that is not a WoodsError is never retried", async (t) => {
  let calls = 0;
  await t.throwsAsync(
    withRetry(policy, async () => {
      calls++;
      throw new Error("bug");
    }),
    { message: "bug" },
  );
  t.is(calls, 1);
});

test("a WoodsError marked not retryable by its sender is not retried even if its code usually is", async (t) => {
  let calls = 0;
  await t.throwsAsync(
    withRetry(policy, async () => {
      calls++;
      throw new WoodsError("IO", "disk gone", { retryable: false });
    }),
  );
  t.is(calls, 1);
});

test("retries stop at maxAttempts and the last error is rethrown", async (t) => {
  const { delays, sleep } = recorder();
  let calls = 0;
  const err = await t.throwsAsync(
    withRetry(
      policy,
      async () => {
        calls++;
        throw new WoodsError("TIMEOUT", `attempt ${calls}`);
      },
      { sleep, rng: () => 0.5 },
    ),
  );
  t.is(calls, 5);
  t.is(err?.message, "attempt 5");
  t.is(delays.length, 4);
});

test("onRetry sees each error, attempt number and the delay about to be slept", async (t) => {
  const { delays, sleep } = recorder();
  const seen: Array<[string, number, number]> = [];
  await t.throwsAsync(
    withRetry(
      { ...policy, maxAttempts: 3 },
      async () => {
        throw new WoodsError("UNAVAILABLE", "down");
      },
      { sleep, rng: () => 0, onRetry: (e, attempt, delayMs) => seen.push([e.code, attempt, delayMs]) },
    ),
  );
  t.deepEqual(seen, [
    ["UNAVAILABLE", 1, 100],
    ["UNAVAILABLE", 2, 200],
  ]);
  t.deepEqual(delays, [100, 200]);
});

test("delays double from the base and are capped at maxDelayMs", (t) => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 60, 1000].map((a) => retryDelayMs(policy, a, 0.9));
  t.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000]);
});

test("jitter keeps every delay between (1 - jitter) and 1 times the capped delay", (t) => {
  const jittery: RetryPolicy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 3000, jitter: 0.5 };
  const rng = seeded(12345);
  const seenDistinct = new Set<number>();
  for (let round = 0; round < 200; round++) {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const capped = Math.min(3000, 100 * 2 ** (attempt - 1));
      const d = retryDelayMs(jittery, attempt, rng());
      t.true(d >= Math.floor(capped * 0.5) && d <= capped, `attempt ${attempt}: ${d} outside [${capped * 0.5}, ${capped}]`);
      if (attempt === 8) seenDistinct.add(d);
    }
  }
  // The random part is really used: capped delays vary across rounds.
  t.true(seenDistinct.size > 50);
});

test("the same seed gives the same sequence of delays", async (t) => {
  const run = async () => {
    const { delays, sleep } = recorder();
    await t.throwsAsync(
      withRetry(
        { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 800, jitter: 1 },
        async () => {
          throw new WoodsError("UNAVAILABLE", "x");
        },
        { sleep, rng: seeded(7) },
      ),
    );
    return delays;
  };
  const a = await run();
  const b = await run();
  t.is(a.length, 5);
  t.deepEqual(a, b);
});

test("full jitter with a zero random draw gives zero delay", (t) => {
  t.is(retryDelayMs({ maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, jitter: 1 }, 3, 0), 0);
});

/** A simulated clock: sleeping advances it; each attempt can cost time too. */
function simulatedClock() {
  let now = 0;
  const delays: number[] = [];
  return {
    delays,
    nowMs: () => now,
    advance: (ms: number) => void (now += ms),
    sleep: async (ms: number) => {
      delays.push(ms);
      now += ms;
    },
  };
}

test("the default policy is full jitter: delays spread over [0, capped]", (t) => {
  const full: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5000, jitter: 1, deadlineMs: 60_000 };
  t.is(retryDelayMs(full, 4, 0), 0);
  t.is(retryDelayMs(full, 4, 0.5), 400);
  t.is(retryDelayMs(full, 4, 0.999), 799);
  t.is(retryDelayMs(full, 20, 0.5), 2500, "the cap applies before the jitter");
});

test("retries stop when the next delay would end past the deadline", async (t) => {
  const clock = simulatedClock();
  let calls = 0;
  const deadlines: Array<[number, number]> = [];
  const err = await t.throwsAsync(
    withRetry(
      { maxAttempts: 100, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0, deadlineMs: 2000 },
      async () => {
        calls++;
        throw new WoodsError("UNAVAILABLE", `attempt ${calls}`);
      },
      { sleep: clock.sleep, nowMs: clock.nowMs, onDeadline: (_e, attempt, elapsedMs) => deadlines.push([attempt, elapsedMs]) },
    ),
  );
  // 100 + 200 + 400 + 800 = 1500 ms slept; the next delay (1000) would end at 2500 > 2000.
  t.deepEqual(clock.delays, [100, 200, 400, 800]);
  t.is(calls, 5);
  t.is(err?.message, "attempt 5", "the last error is rethrown unchanged");
  t.is((err as WoodsError).code, "UNAVAILABLE");
  t.deepEqual(deadlines, [[5, 1500]]);
});

test("time spent inside attempts counts against the deadline", async (t) => {
  const clock = simulatedClock();
  let calls = 0;
  await t.throwsAsync(
    withRetry(
      { maxAttempts: 100, baseDelayMs: 100, maxDelayMs: 100, jitter: 0, deadlineMs: 10_000 },
      async () => {
        calls++;
        clock.advance(3000); // a request that timed out after 3 s
        throw new WoodsError("TIMEOUT", "no answer");
      },
      { sleep: clock.sleep, nowMs: clock.nowMs },
    ),
  );
  // Attempts end at 3000, 6100, 9200: a retry at 9200 + 100 = 9300 <= 10000 still runs; the 4th ends at 12300.
  t.is(calls, 4);
  t.true(clock.nowMs() <= 10_000 + 3000, "the last attempt began before the deadline");
});

test("a call that succeeds before the deadline returns its value", async (t) => {
  const clock = simulatedClock();
  let calls = 0;
  const v = await withRetry(
    { maxAttempts: 100, baseDelayMs: 500, maxDelayMs: 500, jitter: 0, deadlineMs: 2000 },
    async () => {
      calls++;
      if (calls < 4) throw new WoodsError("UNAVAILABLE", "restarting");
      return 42;
    },
    { sleep: clock.sleep, nowMs: clock.nowMs },
  );
  t.is(v, 42);
  t.deepEqual(clock.delays, [500, 500, 500]);
});

test("without a deadline only maxAttempts bounds the retries", async (t) => {
  const clock = simulatedClock();
  let calls = 0;
  await t.throwsAsync(
    withRetry(
      { maxAttempts: 6, baseDelayMs: 10_000, maxDelayMs: 10_000, jitter: 0 },
      async () => {
        calls++;
        throw new WoodsError("UNAVAILABLE", "down");
      },
      { sleep: clock.sleep, nowMs: clock.nowMs },
    ),
  );
  t.is(calls, 6);
  t.is(clock.nowMs(), 50_000);
});

/** How many of 200 seeded clients give up on a namenode that answers UNAVAILABLE for `downMs`. */
async function giveUpsDuringRestart(policy: RetryPolicy, downMs: number): Promise<number> {
  let failures = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const clock = simulatedClock();
    try {
      await withRetry(
        policy,
        async () => {
          clock.advance(5); // a no-responders answer is quick
          if (clock.nowMs() < downMs) throw new WoodsError("UNAVAILABLE", "no namenode");
          return true;
        },
        { sleep: clock.sleep, nowMs: clock.nowMs, rng: seeded(seed) },
      );
    } catch {
      failures++;
    }
  }
  return failures;
}

test("with full jitter, 15 attempts within a 60 s deadline ride out a namenode down for 6 s", async (t) => {
  const policy: RetryPolicy = { maxAttempts: 15, baseDelayMs: 100, maxDelayMs: 5000, jitter: 1, deadlineMs: 60_000 };
  t.is(await giveUpsDuringRestart(policy, 6000), 0);
});

test("with full jitter, 8 attempts leave some clients giving up on a 4 s restart (why maxAttempts must be larger)", async (t) => {
  // Full jitter can draw short delays: the sum of 7 delays is below 4 s for a real share of clients.
  const policy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5000, jitter: 1, deadlineMs: 60_000 };
  t.true((await giveUpsDuringRestart(policy, 4000)) > 10);
});
