/**
 * A horizontal bar chart (SVG, no dependencies) of benchmark ratios against their same-run
 * baselines: one bar per figure, a line at 1.0 (the baseline) and a tick at each target.
 */

export interface RatioBar {
  label: string;
  ratio: number;
  /** Target ratio, when the issue sets one. */
  target?: number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function ratioChart(title: string, bars: RatioBar[]): string {
  const rowH = 26;
  const labelW = 380;
  const plotW = 420;
  const top = 44;
  const height = top + bars.length * rowH + 36;
  const width = labelW + plotW + 70;
  const maxRatio = Math.max(1.6, ...bars.map((b) => Math.max(b.ratio, b.target ?? 0))) * 1.05;
  const x = (r: number) => labelW + (Math.min(r, maxRatio) / maxRatio) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const [i, b] of bars.entries()) {
    const y = top + i * rowH;
    const met = b.target === undefined ? undefined : b.ratio >= b.target;
    const fill = met === undefined ? "#7a9cc6" : met ? "#4caf50" : "#e57373";
    out.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 4}" width="${Math.max(1, x(b.ratio) - labelW).toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`);
    out.push(`<text x="${(x(b.ratio) + 4).toFixed(1)}" y="${y + 16}">${b.ratio.toFixed(2)}×</text>`);
    if (b.target !== undefined) {
      const tx = x(b.target).toFixed(1);
      out.push(`<line x1="${tx}" x2="${tx}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="#222" stroke-width="2" stroke-dasharray="3,2"/>`);
    }
  }
  const bx = x(1).toFixed(1);
  out.push(`<line x1="${bx}" x2="${bx}" y1="${top - 4}" y2="${top + bars.length * rowH}" stroke="#555"/>`);
  out.push(`<text x="${bx}" y="${top + bars.length * rowH + 16}" text-anchor="middle">1.0 = baseline (same run)</text>`);
  out.push(`<text x="10" y="${height - 8}" fill="#555">green: target met · red: target missed · blue: no target · dashed tick: target</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
