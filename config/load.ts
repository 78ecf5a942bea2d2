import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve as resolvePath } from "node:path";
import { parse as parseYaml } from "yaml";
import { configSchema, type WoodsConfig } from "./schema.js";

type Tree = { [k: string]: unknown };

/** Where the defaults live: next to this module in the source tree, or ../../config when compiled. */
function defaultsPath(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const candidate of [`${here}defaults.yaml`, `${here}../../config/defaults.yaml`]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      /* try the next */
    }
  }
  throw new Error(`config/defaults.yaml not found near ${here}`);
}

let cachedDefaults: Tree | undefined;
export function loadDefaults(): Tree {
  cachedDefaults ??= parseYaml(readFileSync(defaultsPath(), "utf8")) as Tree;
  return structuredClone(cachedDefaults);
}

/** `chunkSizeBytes` → `CHUNK_SIZE_BYTES`. */
function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Environment variable names for every leaf key, e.g. client.retry.maxAttempts → WOODS_CLIENT_RETRY_MAX_ATTEMPTS. */
export function envNames(tree: Tree = loadDefaults(), path: string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(tree)) {
    const p = [...path, k];
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [name, leaf] of envNames(v as Tree, p)) out.set(name, leaf);
    } else {
      out.set("WOODS_" + p.map(snake).join("_"), p);
    }
  }
  return out;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let cur = tree;
  for (const k of path.slice(0, -1)) {
    if (typeof cur[k] !== "object" || cur[k] === null) cur[k] = {};
    cur = cur[k] as Tree;
  }
  cur[path[path.length - 1]] = value;
}

function merge(base: Tree, over: Tree, where: string): Tree {
  for (const [k, v] of Object.entries(over ?? {})) {
    if (v && typeof v === "object" && !Array.isArray(v) && base[k] && typeof base[k] === "object") {
      merge(base[k] as Tree, v as Tree, `${where}${k}.`);
    } else {
      base[k] = v;
    }
  }
  return base;
}

function parseEnvValue(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === "true" || raw === "false") return raw === "true";
  return raw;
}

export class ConfigError extends Error {}

/** How a config was loaded: enough to load it again the same way (hot reload). */
export interface ConfigSource {
  /** The YAML file (absolute), if any. */
  file?: string;
  /** The environment it was loaded with (a copy). */
  env: NodeJS.ProcessEnv;
  /** The flags' values. */
  overrides?: Tree;
}

/** Where each config object returned by loadConfig came from (looked up by `configSource`). */
const sources = new WeakMap<object, ConfigSource>();

/** How `config` was loaded, when it came from loadConfig (undefined for hand-made objects). */
export function configSource(config: WoodsConfig): ConfigSource | undefined {
  const s = sources.get(config);
  return s && { ...s, env: { ...s.env } };
}

/** Most problems named in one ConfigError (the rest are counted). */
const ISSUES_NAMED_MAX = 5;

/** Keys holding a byte count also take sizes like `64MiB`. */
function isSizeKey(key: string): boolean {
  return /Bytes$|BytesPerSecond$/.test(key);
}

/** Turns size strings under byte-count keys into numbers; leaves anything unparsable for the schema to name. */
function parseSizes(tree: Tree): void {
  for (const [k, v] of Object.entries(tree)) {
    if (v && typeof v === "object" && !Array.isArray(v)) parseSizes(v as Tree);
    else if (typeof v === "string" && isSizeKey(k)) {
      try {
        tree[k] = parseSize(v);
      } catch {
        /* reported by the schema, with the key */
      }
    }
  }
}

function has(tree: Tree | undefined, path: readonly PropertyKey[]): boolean {
  let cur: unknown = tree;
  for (const k of path) {
    if (!cur || typeof cur !== "object" || !Object.hasOwn(cur, k as string)) return false;
    cur = (cur as Tree)[k as string];
  }
  return true;
}

/**
 * Effective config: defaults ← YAML file ← environment ← overrides (flags).
 * Throws ConfigError naming each bad key, its value and where the value came from.
 */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Tree } = {}): WoodsConfig {
  const env = options.env ?? process.env;
  const tree = loadDefaults();
  const file = options.file ?? (env.WOODS_CONFIG || undefined);
  let fromFile: Tree | undefined;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, "utf8"));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`config file ${file} is not a YAML mapping`);
      fromFile = parsed as Tree;
      merge(tree, structuredClone(fromFile), "");
    }
  }
  const envNameOf = new Map<string, string>();
  for (const [name, path] of envNames()) {
    envNameOf.set(path.join("."), name);
    const raw = env[name];
    if (raw !== undefined && raw !== "") setPath(tree, path, parseEnvValue(raw));
  }
  if (env.WOODS_NATS) setPath(tree, ["nats", "url"], env.WOODS_NATS);
  if (env.WOODS_CREDS) setPath(tree, ["nats", "creds"], env.WOODS_CREDS);
  if (options.overrides) merge(tree, structuredClone(options.overrides), "");
  parseSizes(tree);
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    // Where a bad value came from, so the operator knows what to fix.
    const origin = (path: readonly PropertyKey[]): string => {
      const key = path.join(".");
      if (has(options.overrides, path)) return "a command-line flag";
      if (key === "nats.url" && env.WOODS_NATS) return "$WOODS_NATS";
      if (key === "nats.creds" && env.WOODS_CREDS) return "$WOODS_CREDS";
      const name = envNameOf.get(key);
      if (name && env[name] !== undefined && env[name] !== "") return `$${name}`;
      if (has(fromFile, path)) return file!;
      return "the defaults";
    };
    const problems: string[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) {
          const path = [...issue.path, k];
          let value: unknown = tree;
          for (const p of path) value = (value as Tree | undefined)?.[p as string];
          problems.push(`config key ${path.join(".")}=${short(value)} is not a known key (from ${origin(path)})`);
        }
        continue;
      }
      const key = issue.path.join(".");
      let value: unknown = tree;
      for (const k of issue.path) value = (value as Tree | undefined)?.[k as string];
      const last = String(issue.path[issue.path.length - 1] ?? "");
      const why = typeof value === "string" && isSizeKey(last) ? "not a size (e.g. 64MiB, 1MiB or plain bytes)" : issue.message;
      problems.push(`config key ${key || "(root)"}=${short(value)} is invalid: ${why} (from ${origin(issue.path)})`);
    }
    const more = problems.length > ISSUES_NAMED_MAX ? `; and ${problems.length - ISSUES_NAMED_MAX} more` : "";
    throw new ConfigError(problems.slice(0, ISSUES_NAMED_MAX).join("; ") + more);
  }
  if (result.data.frameSizeBytes > result.data.chunkSizeBytes) {
    // A frame larger than a chunk is harmless but wasteful; clamp rather than fail.
    result.data.frameSizeBytes = result.data.chunkSizeBytes;
  }
  sources.set(result.data, {
    ...(file ? { file: resolvePath(file) } : {}),
    env: { ...env },
    ...(options.overrides ? { overrides: structuredClone(options.overrides) } : {}),
  });
  return result.data;
}

/** A value for an error message: JSON, cut to a readable length. */
function short(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Parses sizes like `64MiB`, `1MiB`, `512KiB`, `1GiB`, `8MB` or plain bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|tib|kb|mb|gb|tb|k|m|g|t)?\s*$/i.exec(text);
  if (!m) throw new ConfigError(`size ${JSON.stringify(text)} is not a size (e.g. 64MiB, 1MiB or plain bytes)`);
  const units: Record<string, number> = {
    b: 1, k: 1024, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
    kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, tb: 1000 ** 4,
  };
  const bytes = Number(m[1]) * units[(m[2] ?? "b").toLowerCase()];
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new ConfigError(`size ${JSON.stringify(text)} must be a whole number of bytes >= 1`);
  return bytes;
}
