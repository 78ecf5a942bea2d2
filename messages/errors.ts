/**
 * Expected failures travel as typed errors with a code and a `retryable` flag.
 * The client's retry policy reads `retryable` and nothing else.
 */

export const ERROR_CODES = {
  BAD_REQUEST: false,
  INVALID_PATH: false,
  NOT_FOUND: false,
  EXISTS: false,
  IS_DIRECTORY: false,
  NOT_A_FILE: false,
  UNSUPPORTED: false,
  TOO_LARGE: false,
  CHECKSUM: true,
  NO_SPACE: true,
  NOT_ENOUGH_NODES: true,
  LEASE_EXPIRED: false,
  STALE: false,
  FENCED: false,
  UNAVAILABLE: true,
  TIMEOUT: true,
  IO: true,
  ALL_REPLICAS_FAILED: false,
  /** Append: the datanode asked is not (or no longer) the primary of that chunk under that lease; locate again. */
  NOT_PRIMARY: true,
  /** Append: the record does not fit in the rest of the last chunk; append it as a new chunk instead. */
  CHUNK_FULL: true,
  INTERNAL: true,
} as const satisfies Record<string, boolean>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The wire form of an error inside a reply. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

export class WoodsError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WoodsError";
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code] ?? false;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  static fromWire(e: Partial<WireError> | undefined): WoodsError {
    const code = (e?.code && e.code in ERROR_CODES ? e.code : "INTERNAL") as ErrorCode;
    return new WoodsError(code, String(e?.message ?? "unknown error"), { retryable: e?.retryable });
  }
}

export function isWoodsError(e: unknown): e is WoodsError {
  return e instanceof WoodsError;
}

/** Converts anything thrown into a WoodsError, keeping the original as the cause. */
export function toWoodsError(e: unknown, fallback: ErrorCode = "INTERNAL"): WoodsError {
  if (e instanceof WoodsError) return e;
  const err = e as { code?: string; message?: string } | undefined;
  const sys = err?.code;
  if (sys === "ENOSPC" || sys === "EDQUOT") return new WoodsError("NO_SPACE", err?.message ?? "no space", { cause: e });
  if (sys === "EIO" || sys === "EROFS" || sys === "EACCES" || sys === "EPERM" || sys === "ENOTDIR") {
    return new WoodsError("IO", err?.message ?? "io error", { cause: e });
  }
  if (sys === "ENOENT") return new WoodsError("NOT_FOUND", err?.message ?? "not found", { cause: e });
  return new WoodsError(fallback, err?.message ?? String(e), { cause: e });
}
