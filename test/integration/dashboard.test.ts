/**
 * The live dashboard in a real browser: Debian's chromium driven by playwright-core (no browser
 * download), against a real cluster started with `woods cluster up`. The page is loaded once and
 * never reloaded: everything after the first render must arrive over its event stream.
 */
import test from "ava";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startCluster, waitFor, seededBytes, FAST_FAULT_CONFIG, type TestCluster } from "../helpers/cluster.js";

const CHROMIUM = process.env.WOODS_CHROMIUM ?? "/usr/bin/chromium";
const DEAD_AFTER_MS = (FAST_FAULT_CONFIG.namenode as { deadAfterMs: number }).deadAfterMs;

interface StatusWithDashboard {
  dashboard: string | null;
  dashboardServer: { pid: number | null; url: string | null; running: boolean } | null;
  datanodes: { id: string }[];
}

let cluster: TestCluster | undefined;
let browser: Browser | undefined;

test.before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (or set WOODS_CHROMIUM)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: FAST_FAULT_CONFIG });
});

test.after.always(async () => {
  await browser?.close();
  await cluster?.down();
});

async function status(): Promise<StatusWithDashboard> {
  return (await cluster!.status()) as unknown as StatusWithDashboard;
}

/** The state a row of the datanode table shows, or null when there is no row. */
function nodeState(page: Page, id: string): Promise<string | null> {
  return page.evaluate((nodeId) => document.querySelector(`#nodes-body tr[data-node="${nodeId}"]`)?.getAttribute("data-state") ?? null, id);
}

test.serial("the dashboard shows every datanode alive, new files and throughput, and a killed datanode dead, without a reload", async (t) => {
  const c = cluster!;
  const st = await status();
  t.regex(st.dashboard ?? "", /^http:\/\/127\.0\.0\.1:\d+\/$/, "cluster status --json names the dashboard URL");
  t.true(st.dashboardServer?.running);
  const ids = st.datanodes.map((d) => d.id);
  t.deepEqual(ids, ["dn1", "dn2", "dn3"]);

  const page = await browser!.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(st.dashboard!);
  await page.waitForSelector("#conn[data-state=live]", { timeout: 10_000 });
  for (const id of ids) await waitFor(async () => (await nodeState(page, id)) === "alive", 10_000, `${id} shown alive`);
  // Marks this document: a reload would lose it.
  await page.evaluate(() => ((window as unknown as { __woodsTest: number }).__woodsTest = 42));

  const data = seededBytes(300_000, 7);
  const put = await c.put("/dash/hello.bin", data);
  t.is(put.code, 0, put.stderr);
  await page.waitForSelector('#files-body tr[data-file="/dash/hello.bin"]', { timeout: 15_000 });
  const size = await page.textContent('#files-body tr[data-file="/dash/hello.bin"] td.num');
  t.is(size, "293 KiB");
  // Client bytes come from the file.created event; stored bytes from the datanodes' used bytes.
  await waitFor(async () => Number(await page.getAttribute("#rate-files", "data-total")) >= data.length, 10_000, "client throughput to count the file");
  await waitFor(async () => Number(await page.getAttribute("#rate-stored", "data-total")) >= 3 * data.length, 10_000, "stored throughput to count 3 replicas");
  t.is(await page.getAttribute("#health-status", "data-state"), "healthy");
  t.is(await page.textContent('[data-health="files"] .v'), "1");
  t.truthy(await page.$('#events li[data-kind="file.created"]'), "the file.created event is listed");

  await c.ok(["cluster", "stop", "dn2", "--kill"]);
  // The namenode calls it dead after deadAfterMs without a heartbeat; the page follows within seconds.
  await waitFor(async () => (await nodeState(page, "dn2")) === "dead", DEAD_AFTER_MS + 8_000, "dn2 shown dead");
  t.is(await page.textContent('#nodes-body tr[data-node="dn2"] [data-field=state]'), "dead");
  t.is(await nodeState(page, "dn1"), "alive");
  t.is(await nodeState(page, "dn3"), "alive");
  t.regex((await page.textContent('#events li[data-kind="datanode.dead"]')) ?? "", /dn2 is dead/);
  t.is(await page.evaluate(() => (window as unknown as { __woodsTest?: number }).__woodsTest), 42, "the page was never reloaded");
  // With 3 replicas and one node dead, the file's chunk is under-replicated until a node comes back.
  await page.waitForSelector("#health-status[data-state=unhealthy]", { timeout: 10_000 });
  t.deepEqual(pageErrors, []);
  await page.close();
});

test.serial("the dashboard is one more process of the cluster: stopped, started and shown by cluster status", async (t) => {
  const c = cluster!;
  const before = await status();
  const url = before.dashboard!;
  const api = await (await fetch(new URL("api/state", url))).json();
  t.is(api.view.prefix, "woods");
  t.true(Array.isArray(api.events));
  t.is((await fetch(url)).headers.get("content-type"), "text/html; charset=utf-8");

  const text = (await c.ok(["cluster", "status"])).stdout.toString();
  t.regex(text, /^dashboard\s+running\s+pid \d+\s+http:\/\/127\.0\.0\.1:\d+\/$/m);

  await c.ok(["cluster", "stop", "dashboard"]);
  const stopped = await status();
  t.is(stopped.dashboard, null);
  t.false(stopped.dashboardServer?.running);
  await t.throwsAsync(fetch(url));

  await c.ok(["cluster", "start", "dashboard"]);
  const again = await status();
  t.regex(again.dashboard ?? "", /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const res = await fetch(new URL("healthz", again.dashboard!));
  t.is(await res.text(), "ok\n");

  // A namenode outage is shown on the open page, and so is its return.
  const page = await browser!.newPage();
  await page.goto(again.dashboard!);
  await page.waitForSelector("#namenode[data-state=ok]", { timeout: 10_000 });
  await c.ok(["cluster", "stop", "namenode", "--kill"]);
  await page.waitForSelector("#namenode[data-state=unreachable]", { timeout: 15_000 });
  await c.ok(["cluster", "start", "namenode"]);
  await page.waitForSelector("#namenode[data-state=ok]", { timeout: 30_000 });
  t.truthy(await page.$('#events li[data-kind="namenode.started"]'), "the restarted namenode's event is listed");
  await page.close();
});
