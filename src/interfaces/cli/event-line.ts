import type { StoredEvent } from '../../journeys/journey-events.js';
import { actorLabel } from '../../kernel/actor.js';
import type { Style } from './style.js';

/** One line per journey event, as `sluice up` prints them; `sluice events` adds who caused it. */
export function eventLine(st: Style, e: StoredEvent, versionOf: (journeyId: string) => string, withActor = false): string {
  const line = describe(st, e, versionOf);
  return withActor ? `${line} ${st.dim(`· ${actorLabel(e.actor)}`)}` : line;
}

function describe(st: Style, e: StoredEvent, versionOf: (journeyId: string) => string): string {
  const t = st.dim(new Date(e.at).toISOString().slice(11, 23));
  const who = st.bold(e.type === 'journey.created' ? e.release.version : versionOf(e.journeyId));
  switch (e.type) {
    case 'journey.created':
      return `${t} ${who} created as journey ${e.journeyId} (${e.release.digest.slice(0, 19)})${e.createdBy ? ` by ${e.createdBy.name}` : ''}, stages ${e.plan.stages.map((s) => s.name).join(' → ')}`;
    case 'step.started':
      return `${t} ${who} ${e.stage} ${st.cyan('▶')} ${e.step}`;
    case 'step.finished':
      return `${t} ${who} ${e.stage} ${e.inconclusive ? st.yellow('?') : e.ok ? st.green('✓') : st.red('✗')} ${e.step}${e.reason ? (e.ok ? st.dim(` ${e.reason}`) : st.red(` ${e.reason}`)) : ''}`;
    case 'step.warned':
      return `${t} ${who} ${e.stage} ${st.yellow(`⚠ ${e.message}`)}`;
    case 'stage.entered':
      return `${t} ${who} ${st.bold(e.stage)} entered (was ${e.previous?.version ?? 'empty'})`;
    case 'stage.bake-started':
      return `${t} ${who} ${e.stage} baking until ${new Date(e.until).toISOString().slice(11, 19)}`;
    case 'stage.approved':
      return `${t} ${who} ${e.stage} approved${e.gate === 'before-deploy' ? ' before deploy' : ''} by ${e.by}${e.comment ? `: ${e.comment}` : ''}`;
    case 'stage.rejected':
    case 'stage.promoted':
      return `${t} ${who} ${e.stage} ${e.type.slice(6)} by ${e.by}${'comment' in e && e.comment ? `: ${e.comment}` : ''}`;
    case 'stage.rollback-requested':
      return `${t} ${who} ${e.stage} rollback requested by ${e.by}${e.reason ? `: ${e.reason}` : ''}`;
    case 'journey.superseded':
      return `${t} ${who} superseded by ${e.by}`;
    case 'stage.paused':
      return `${t} ${who} ${e.stage} paused by ${e.by}`;
    case 'stage.resumed':
      return `${t} ${who} ${e.stage} resumed by ${e.by}${e.step ? ` past ${e.step}` : ''}`;
    case 'stage.guard-tripped':
      return `${t} ${who} ${e.stage} ${st.red(`guard tripped: ${e.reason}`)}`;
    case 'stage.promoted-full':
      return `${t} ${who} ${e.stage} promoted in full by ${e.by}`;
    case 'journey.retried':
      return `${t} ${who} retried by ${e.by}`;
  }
}
