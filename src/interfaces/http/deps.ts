import type { TokenService } from '../../auth/token-service.js';
import type { EventBus } from '../../journeys/event-bus.js';
import type { Executor } from '../../journeys/executor.js';
import type { JourneyLog } from '../../journeys/ports/journey-log.js';
import type { StepWorkspace } from '../../journeys/ports/step-workspace.js';
import type { NotificationOutbox } from '../../notifications/ports/outbox.js';
import type { ReleaseStore } from '../../releases/ports/release-store.js';
import type { ReleaseService } from '../../releases/release-service.js';
import type { JudgeRunner } from '../../rollout/ports/judge-runner.js';
import type { StreamLimits } from './streams.js';

/** What the HTTP interface needs from the contexts; main/ wires it. */
export interface ApiDeps {
  executor: Executor;
  releases: ReleaseService;
  tokens: TokenService;
  bus: EventBus;
  store: ReleaseStore & Pick<JourneyLog, 'loadEvents' | 'eventsAfter'> & Pick<NotificationOutbox, 'listNotifications'>;
  logs: Pick<StepWorkspace, 'readLog'>;
  /**
   * Whether a request carries this server's operator key (header x-sluice-operator): the CLI on this machine, run by
   * someone who can read the data directory, sends it. Only such a caller may name an artifact by an absolute path.
   */
  isOperator: (key: string | undefined) => boolean;
  /** Judges POST /api/v1/judge off the event loop, within its limits. */
  judge: JudgeRunner;
  /** How many streams (events, followed logs) may be open, and how far behind a client may fall. */
  streams: StreamLimits;
  /** Where a stage answers, for the board. */
  stageUrl: (stage: string) => string | undefined;
  version: string;
  /** The data plane's counters in the Prometheus text format. */
  metricsText: () => Promise<string>;
  /** Whether the data plane answers, and what it says of itself. */
  dataPlane: () => Promise<{ ok: boolean; pid?: number; port?: number; build?: string; error?: string }>;
}
