import test from "ava";
import { CrashTrigger, parseCrashSpec } from "../../actors/namenode/crash-points.js";

test("an unset or empty crash spec leaves the namenode inert", (t) => {
  t.is(parseCrashSpec(undefined), undefined);
  t.is(parseCrashSpec(""), undefined);
  t.is(parseCrashSpec("  "), undefined);
});

test("crash specs name a point, optionally a verb and a count, in either order", (t) => {
  t.deepEqual(parseCrashSpec("before-append"), { point: "before-append", nth: 1 });
  t.deepEqual(parseCrashSpec("after-puback:complete"), { point: "after-puback", verb: "complete", nth: 1 });
  t.deepEqual(parseCrashSpec("after-reply:commit:3"), { point: "after-reply", verb: "commit", nth: 3 });
  t.deepEqual(parseCrashSpec("after-reply:2"), { point: "after-reply", nth: 2 });
});

test("a malformed crash spec is refused rather than silently ignored", (t) => {
  t.throws(() => parseCrashSpec("after-lunch"), { message: /unknown crash point/ });
  t.throws(() => parseCrashSpec("after-reply:stat"), { message: /neither a mutation verb/ });
  t.throws(() => parseCrashSpec("after-reply:0"), { message: /neither/ });
  t.throws(() => parseCrashSpec("after-reply:rm:create"), { message: /neither/ });
});

test("the trigger fires once, on the n-th mutation of the chosen verb", (t) => {
  const trig = new CrashTrigger(parseCrashSpec("after-puback:commit:2")!);
  t.is(trig.hit("create"), undefined);
  t.is(trig.hit("commit"), undefined);
  t.is(trig.hit("complete"), undefined);
  t.is(trig.hit("commit"), "after-puback");
  t.is(trig.hit("commit"), undefined);
  const any = new CrashTrigger(parseCrashSpec("before-append")!);
  t.is(any.hit("rm"), "before-append");
});
