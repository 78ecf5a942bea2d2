import test from "ava";
import { ratioChart } from "../../bench/chart.js";

test("the ratio chart draws one bar per figure, coloured by whether its target is met, and escapes labels", (t) => {
  const svg = ratioChart("a <b> & c", [
    { label: "met", ratio: 1.2, target: 1.0 },
    { label: "missed", ratio: 0.3, target: 1.0 },
    { label: "none", ratio: 0.8 },
  ]);
  t.true(svg.startsWith("<svg") && svg.trim().endsWith("</svg>"));
  t.true(svg.includes("a &lt;b&gt; &amp; c"));
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="(#[0-9a-f]+)"/g)];
  t.deepEqual(bars.map((b) => b[2]), ["#4caf50", "#e57373", "#7a9cc6"]);
  // Widths are proportional to the ratios.
  const w = bars.map((b) => Number(b[1]));
  t.true(Math.abs(w[0] / w[1] - 1.2 / 0.3) < 0.01);
  t.is((svg.match(/stroke-dasharray/g) ?? []).length, 2, "a target tick for each bar with a target");
});
