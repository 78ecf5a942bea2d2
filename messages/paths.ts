import { WoodsError } from "./errors.js";

/** Limits on remote paths; chosen to match common POSIX limits. */
export const PATH_MAX_BYTES = 4096;
export const SEGMENT_MAX_BYTES = 255;

/**
 * Validates a remote path and returns its canonical form (`/a/b`).
 * Rejects relative paths, empty, `.` and `..` segments, control characters and NUL, lone surrogates
 * (invalid UTF-8 arrives as U+FFFD, also refused), and paths over PATH_MAX_BYTES or with a segment over
 * SEGMENT_MAX_BYTES. Nothing is URL-decoded: `%2e%2e%2f` is a literal name. Paths never become
 * subject tokens or local file names, so `*`, `>` and `.` inside a segment are plain characters.
 * `allowRoot` permits `/` itself (for `ls`); a trailing slash is accepted only then.
 */
export function normalizePath(path: unknown, options: { allowRoot?: boolean } = {}): string {
  if (typeof path !== "string") throw new WoodsError("INVALID_PATH", "path must be a string");
  if (!path.startsWith("/")) throw new WoodsError("INVALID_PATH", `path ${JSON.stringify(path)} must be absolute (start with /)`);
  if (Buffer.byteLength(path, "utf8") > PATH_MAX_BYTES) {
    throw new WoodsError("INVALID_PATH", `path is longer than ${PATH_MAX_BYTES} bytes`);
  }
  if (path.includes("\uFFFD") || !isWellFormed(path)) throw new WoodsError("INVALID_PATH", "path is not valid UTF-8");
  // C0, DEL and C1 controls (CR/LF among them): a name must print as what it is, in logs and listings.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) throw new WoodsError("INVALID_PATH", "path contains NUL or control characters");
  if (path === "/") {
    if (options.allowRoot) return "/";
    throw new WoodsError("INVALID_PATH", "path / is the root directory, not a file");
  }
  let body = path.slice(1);
  if (options.allowRoot && body.endsWith("/")) body = body.slice(0, -1);
  const segments = body.split("/");
  for (const seg of segments) {
    if (seg === "") throw new WoodsError("INVALID_PATH", `path ${JSON.stringify(path)} has an empty segment`);
    if (seg === "." || seg === "..") throw new WoodsError("INVALID_PATH", `path ${JSON.stringify(path)} has a "${seg}" segment`);
    if (Buffer.byteLength(seg, "utf8") > SEGMENT_MAX_BYTES) {
      throw new WoodsError("INVALID_PATH", `a segment of the path is longer than ${SEGMENT_MAX_BYTES} bytes`);
    }
  }
  return "/" + segments.join("/");
}

/** Parent directories of a canonical file path, nearest last: `/a/b/c` → [`/a`, `/a/b`]. */
export function parentsOf(path: string): string[] {
  const segs = path.split("/").slice(1, -1);
  const out: string[] = [];
  let cur = "";
  for (const s of segs) {
    cur += "/" + s;
    out.push(cur);
  }
  return out;
}

function isWellFormed(s: string): boolean {
  // Lone surrogates cannot be encoded as UTF-8.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}
