import { type AnalysisDetailView, comparisonLines, seriesValues, thresholdLines } from '../model/analysis.js';
import { formatNumber, formatTime } from '../model/format.js';
import { SeriesChart } from './chart.js';

/** The analysis behind a decision: the verdict and its reason, each metric charted with its thresholds, and the statistics. */
export function AnalysisView({ a, where }: { a: AnalysisDetailView; where: string }) {
  const r = a.response;
  const c = r.comparison;
  return (
    <section className="analysis" aria-label={`Analysis ${a.analysis} at ${where}`}>
      <h3>
        Analysis {a.analysis}: <span className={`verdict ${r.outcome}`}>{r.outcome}</span>
      </h3>
      <p className="muted">
        {a.canary && `canary ${a.canary}`}
        {a.baseline && ` vs baseline ${a.baseline}`}
        {a.fromMs !== undefined && a.toMs !== undefined && ` · ${formatTime(a.fromMs)} – ${formatTime(a.toMs)}`}
      </p>
      {r.reason && <p>{r.reason}</p>}
      {c && (
        <p>
          Score <strong>{formatNumber(c.score)}</strong> ({c.verdict}; pass ≥ {c.thresholds.pass}, marginal ≥ {c.thresholds.marginal})
        </p>
      )}
      {(a.gaps?.length ?? 0) > 0 && (
        <p className="warn-text">
          Gaps without data: {a.gaps!.map((g) => `${formatTime(g.fromMs)}–${formatTime(g.toMs)} (${g.reason})`).join('; ')}
        </p>
      )}
      <div className="charts">
        {c?.metrics.map((m) => {
          const req = a.request.metrics?.find((x) => x.name === m.name);
          const lines = req ? comparisonLines(req, m.baseline.mean) : [];
          return (
            <div key={m.name} className={`metric ${m.classification === 'Pass' ? '' : 'bad'}`}>
              <h4>
                {m.name} <span className={`verdict ${m.classification === 'Pass' ? 'pass' : m.classification.startsWith('Nodata') ? 'inconclusive' : 'fail'}`}>{m.classification}</span>
              </h4>
              <SeriesChart
                title={`${m.name}: canary and baseline`}
                series={[
                  { label: 'canary', values: seriesValues(req?.canary), kind: 'canary' },
                  { label: 'baseline', values: seriesValues(req?.baseline), kind: 'baseline' },
                ]}
                lines={lines}
              />
              <table className="stats">
                <caption className="sr-only">Statistics of {m.name}</caption>
                <thead>
                  <tr>
                    <th scope="col">
                      <span className="sr-only">series</span>
                    </th>
                    <th scope="col">count</th>
                    <th scope="col">mean</th>
                    <th scope="col">median</th>
                    <th scope="col">min</th>
                    <th scope="col">max</th>
                  </tr>
                </thead>
                <tbody>
                  {(['canary', 'baseline'] as const).map((k) => (
                    <tr key={k}>
                      <th scope="row">{k}</th>
                      <td>{m[k].count}</td>
                      <td>{formatNumber(m[k].mean)}</td>
                      <td>{formatNumber(m[k].median)}</td>
                      <td>{formatNumber(m[k].min)}</td>
                      <td>{formatNumber(m[k].max)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted small">
                ratio {formatNumber(m.ratio)}
                {m.test &&
                  ` · Mann-Whitney p = ${formatNumber(m.test.pValue)} · shift ${formatNumber(m.test.estimate)} (${Math.round(m.test.confidenceLevel * 100)}% CI ${formatNumber(m.test.lower)} to ${formatNumber(m.test.upper)})`}
                {m.reason && ` · ${m.reason}`}
              </p>
            </div>
          );
        })}
        {r.thresholds.map((t) => {
          const req = a.request.thresholds?.find((x) => x.name === t.name);
          return (
            <div key={t.name} className={`metric ${t.outcome === 'Successful' ? '' : 'bad'}`}>
              <h4>
                {t.name} <span className={`verdict ${t.outcome === 'Successful' ? 'pass' : t.outcome === 'Inconclusive' ? 'inconclusive' : 'fail'}`}>{t.outcome}</span>
              </h4>
              <SeriesChart
                title={`${t.name}: measurements`}
                series={[{ label: 'measured', values: seriesValues(req?.measurements), kind: 'measure' }]}
                lines={req ? thresholdLines(req) : []}
              />
              <p className="muted small">
                {t.counts.successful} ok, {t.counts.failed} failed, {t.counts.inconclusive} inconclusive, {t.counts.errors} errors
                {t.counts.warmup ? `, ${t.counts.warmup} warm-up` : ''} · {t.reason}
              </p>
            </div>
          );
        })}
      </div>
    </section>
  );
}
