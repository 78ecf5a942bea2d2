import test from "ava";
import { encodeJson } from "../../messages/index.js";

test("JSON replies carry binary fields (Buffer and Uint8Array) as base64", (t) => {
  const text = new TextDecoder().decode(encodeJson({ ok: true, data: Buffer.from("hello"), raw: new Uint8Array([1, 2]), n: 3 }));
  t.deepEqual(JSON.parse(text), { ok: true, data: "aGVsbG8=", raw: "AQI=", n: 3 });
});
