/**
 * Strings decoded from msgpack are usually slices of one string that holds every string of the
 * message (msgpackr's native extractor builds them that way): keeping one slice keeps the whole
 * message's text alive, ~200 bytes for a 32-character id instead of 48. Long-lived tables keep
 * an own flat copy instead. PURE.
 */
export function ownString(s: string): string {
  // ASCII (every id, most paths) copies through latin1, the cheapest way; anything else through UTF-8
  // (paths are well-formed UTF-16: validated on arrival, written by us into the log).
  return Buffer.byteLength(s, "utf8") === s.length ? Buffer.from(s, "latin1").toString("latin1") : Buffer.from(s, "utf8").toString("utf8");
}
