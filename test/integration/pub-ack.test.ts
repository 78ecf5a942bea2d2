/** The metadata log's acked publisher against a real nats-server: acks, duplicates, fencing, no stream. */
import test from "ava";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { PubAckPublisher, PubAckError, PUB_ACK_ERR } from "../../jetstream/pub-ack.js";

let server: NatsServerHandle;
let nc: NatsConnection;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PUBACK", subjects: ["puback.>"], storage: StorageType.File });
});
test.after.always(async () => {
  await nc?.close();
  await server?.stop();
});

test.serial("acks carry the stream sequence; a repeated message id is a duplicate at the same sequence", async (t) => {
  const p = new PubAckPublisher(nc);
  const enc = new TextEncoder();
  const a = await p.publish("puback.a", enc.encode("one"), { msgId: "m1", timeoutMs: 5000 });
  t.deepEqual(a, { stream: "PUBACK", seq: 1, duplicate: false });
  // Many in flight at once settle each with its own ack.
  const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => p.publish("puback.b", enc.encode(`m${i}`), { timeoutMs: 5000 })));
  t.deepEqual(acks.map((x) => x.seq).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 2));
  const again = await p.publish("puback.a", enc.encode("one"), { msgId: "m1", timeoutMs: 5000 });
  t.deepEqual(again, { stream: "PUBACK", seq: 1, duplicate: true });
  p.close();
});

test.serial("an expected last sequence that is not the stream's is refused with err_code 10071 and nothing is stored", async (t) => {
  const p = new PubAckPublisher(nc);
  const jsm = await jetstreamManager(nc);
  const before = (await jsm.streams.info("PUBACK")).state.last_seq;
  const ok = await p.publish("puback.c", new Uint8Array([1]), { expectLastSequence: before, timeoutMs: 5000 });
  t.is(ok.seq, before + 1);
  const err = await t.throwsAsync(p.publish("puback.c", new Uint8Array([2]), { expectLastSequence: before, timeoutMs: 5000 }));
  t.true(err instanceof PubAckError);
  t.is((err as PubAckError).errCode, PUB_ACK_ERR.wrongLastSequence);
  t.is((err as PubAckError).kind, "api");
  t.is((await jsm.streams.info("PUBACK")).state.last_seq, before + 1);
  p.close();
});

test.serial("a subject no stream listens on fails at once as no-responders, not after the timeout", async (t) => {
  const p = new PubAckPublisher(nc);
  const started = Date.now();
  const err = await t.throwsAsync(p.publish("nostream.x", new Uint8Array([1]), { timeoutMs: 20_000 }));
  t.is((err as PubAckError).kind, "no-responders");
  t.true(Date.now() - started < 5000);
  // close() rejects whatever is still waiting: a listener that never answers keeps one pending.
  const silent = nc.subscribe("silent.x");
  await nc.flush();
  const waiting = p.publish("silent.x", new Uint8Array([1]), { timeoutMs: 20_000 });
  await nc.flush();
  p.close();
  const closed = await t.throwsAsync(waiting);
  t.is((closed as PubAckError).kind, "closed");
  silent.unsubscribe();
});
