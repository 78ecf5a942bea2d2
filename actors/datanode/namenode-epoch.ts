/**
 * Fencing of namenode orders (README, Security): the highest namenode epoch this datanode has
 * seen, kept on disk so that a datanode restarted while namenodes change over still refuses orders
 * from the old one.
 *
 * The file `<dataDir>/namenode-epoch` lives in the first usable data dir; at start the highest
 * found in any data dir counts (the first dir may have failed since). It is written only when the
 * epoch grows (at a namenode start or takeover), atomically and durably: temp file in `tmp/`,
 * fsync, rename, dir fsync. An order of a newer epoch is carried out only once that epoch is on disk.
 *
 * Format (little endian): "WOODNNEP" | epoch u64 | CRC32 u32 of what precedes it.
 */
import { randomBytes } from "node:crypto";
import { constants as fsc, promises as fsp } from "node:fs";
import { join } from "node:path";
import { WoodsError } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import { writeFileDurably } from "./append-journal.js";
import { decodeEpochRecord, encodeEpochRecord } from "./epoch-record.js";

export const NAMENODE_EPOCH_FILE = "namenode-epoch";
const MAGIC = Buffer.from("WOODNNEP", "latin1");

export function encodeNamenodeEpoch(epoch: number): Buffer {
  return encodeEpochRecord(MAGIC, epoch);
}

/** The epoch in a `namenode-epoch` file; undefined when damaged. */
export function decodeNamenodeEpoch(buf: Buffer): number | undefined {
  return decodeEpochRecord(MAGIC, buf);
}

/** Reads the epoch persisted in `dataDir`: 0 when none; damaged or unreadable files are logged and count as 0. */
async function readIn(dataDir: string, log: Logger): Promise<number> {
  const path = join(dataDir, NAMENODE_EPOCH_FILE);
  let buf: Buffer;
  try {
    const fh = await fsp.open(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
    try {
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return 0;
    log.warn({ err: e, file: path }, `cannot read the namenode epoch in ${path}: ${(e as Error).message}`);
    return 0;
  }
  const epoch = decodeNamenodeEpoch(buf);
  if (epoch === undefined) log.warn({ file: path }, `the namenode epoch file ${path} is damaged; ignored`);
  return epoch ?? 0;
}

export interface NamenodeFenceOptions {
  /** The usable data dirs, first first (asked at each write: a dir may fail meanwhile). */
  dirs: () => string[];
  log: Logger;
}

/** The highest namenode epoch seen; refuses orders from older ones. */
export class NamenodeFence {
  private seen: number;
  private persisted: number;
  private writing: Promise<void> = Promise.resolve();
  /** The last epoch whose write failed (logged once as an error; retried at each later order). */
  private failed = 0;

  private constructor(
    private readonly opts: NamenodeFenceOptions,
    epoch: number,
  ) {
    this.seen = epoch;
    this.persisted = epoch;
  }

  /** Reads the highest epoch persisted in any of the data dirs (0 when none). */
  static async load(opts: NamenodeFenceOptions): Promise<NamenodeFence> {
    let highest = 0;
    for (const dir of opts.dirs()) highest = Math.max(highest, await readIn(dir, opts.log));
    if (highest > 0) opts.log.info({ epoch: highest }, `orders from namenode epochs older than ${highest} are refused (persisted fence)`);
    return new NamenodeFence(opts, highest);
  }

  /** The highest namenode epoch seen (0: none yet). */
  get highest(): number {
    return this.seen;
  }

  /** Whether an order of `epoch` comes from an older namenode than one seen (undefined: a namenode predating fencing, accepted). */
  isStale(epoch: number | undefined): boolean {
    return epoch !== undefined && epoch < this.seen;
  }

  /**
   * Refuses an order from an older namenode epoch than one seen (FENCED). A newer epoch is
   * remembered at once (orders of older ones are refused from now on) and resolves once it is on
   * disk. When it cannot be written the error is logged and the fence holds in memory only.
   */
  async admit(epoch: number | undefined): Promise<void> {
    if (epoch === undefined) return;
    if (epoch < this.seen) {
      throw new WoodsError("FENCED", `order from namenode epoch ${epoch} refused: epoch ${this.seen} has been seen`);
    }
    if (epoch <= this.persisted) return;
    this.seen = epoch;
    // One write at a time; each writes the highest seen by then, so later ones often have nothing to do.
    this.writing = this.writing.then(() => this.persist());
    await this.writing;
  }

  private async persist(): Promise<void> {
    const epoch = this.seen;
    if (epoch <= this.persisted) return;
    const dir = this.opts.dirs()[0];
    if (dir === undefined) {
      this.opts.log.error({ epoch }, `no usable data dir to persist namenode epoch ${epoch}; the fence holds until a restart`);
      return;
    }
    try {
      await writeFileDurably(dir, dir, NAMENODE_EPOCH_FILE, encodeNamenodeEpoch(epoch), randomBytes(6).toString("hex"));
      this.persisted = epoch;
      this.opts.log.debug({ epoch, dir }, `namenode epoch ${epoch} persisted in ${dir}`);
    } catch (e) {
      const line = `cannot persist namenode epoch ${epoch} in ${dir} (${(e as Error).message}); the fence holds in memory until a restart`;
      if (this.failed === epoch) this.opts.log.debug({ err: e, epoch, dir }, line);
      else this.opts.log.error({ err: e, epoch, dir }, line);
      this.failed = epoch;
    }
  }
}
