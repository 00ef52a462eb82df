// Time-series charts, drawn by uPlot (static/vendor, see vendor.sh) on a
// canvas. Each chart sits in a figure with a caption and a text summary
// for screen readers, and is drawn again in the other theme's colours when
// the theme changes.
import uPlot from '../vendor/uPlot.esm.js';

// charts are the charts on the page now, by name: the browser test reads
// their data through window.heraldDebug.
export const charts = new Map();
window.heraldDebug = Object.assign(window.heraldDebug || {}, {charts});

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// options builds uPlot's options for spec in the current theme.
function options(spec, width) {
  const fg = cssVar('--fg-muted');
  const grid = cssVar('--grid');
  // uPlot takes a key given as undefined as the value: leave unset ones out.
  const axis = (scale, values, size) => Object.assign({scale, stroke: fg, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}},
    values && {values}, size && {size});
  return {
    width,
    height: spec.height || 200,
    scales: {
      x: {time: true},
      y: spec.range ? {range: spec.range} : {},
    },
    axes: [axis('x'), axis('y', (u, vals) => vals.map((v) => (v === null ? '' : `${v}${spec.unit || ''}`)), 64)],
    series: [{}, ...spec.series.map((s, i) => ({
      label: s.label,
      stroke: cssVar(`--chart-${i + 1}`),
      width: 2,
      spanGaps: false,
      points: {show: true, size: 4},
      value: (u, v) => (v === null || v === undefined ? '—' : `${Math.round(v * 10) / 10}${spec.unit || ''}`),
    }))],
    legend: {show: true},
    cursor: {drag: {x: false, y: false}},
  };
}

// lineChart draws a chart named name into container: spec has series
// ([{label}]), unit, range and a summary(data) function for the text
// screen readers get. Drawing again with new data keeps the chart.
export function lineChart(container, name, spec, data) {
  const plotEl = document.createElement('div');
  plotEl.className = 'plot';
  plotEl.setAttribute('role', 'img');
  const summary = document.createElement('p');
  summary.className = 'visually-hidden';
  container.replaceChildren(plotEl, summary);
  const width = () => Math.max(240, container.clientWidth || 480);
  let plot = new uPlot(options(spec, width()), data, plotEl);
  const chart = {
    spec,
    get data() { return plot.data; },
    update(next) {
      plot.setData(next);
      describe(next);
    },
    redraw() {
      const keep = plot.data;
      plot.destroy();
      plot = new uPlot(options(spec, width()), keep, plotEl);
    },
    destroy() {
      resize.disconnect();
      plot.destroy();
      charts.delete(name);
    },
  };
  function describe(d) {
    const text = spec.summary ? spec.summary(d) : '';
    plotEl.setAttribute('aria-label', `${spec.title}. ${text}`);
    summary.textContent = text;
  }
  const resize = new ResizeObserver(() => plot.setSize({width: width(), height: spec.height || 200}));
  resize.observe(container);
  describe(data);
  const old = charts.get(name);
  if (old) old.destroy();
  charts.set(name, chart);
  return chart;
}

// The colours come from CSS: a theme change draws every chart again.
window.addEventListener('herald:theme', () => {
  for (const chart of charts.values()) chart.redraw();
});

// dropCharts forgets the charts of a page left behind.
export function dropCharts() {
  for (const chart of [...charts.values()]) chart.destroy();
}
