import type { TokenService } from '../../auth/token-service.js';
import type { EventBus } from '../../journeys/event-bus.js';
import type { Executor } from '../../journeys/executor.js';
import type { JourneyLog } from '../../journeys/ports/journey-log.js';
import type { StepWorkspace } from '../../journeys/ports/step-workspace.js';
import type { NotificationOutbox } from '../../notifications/ports/outbox.js';
import type { ReleaseStore } from '../../releases/ports/release-store.js';
import type { ReleaseService } from '../../releases/release-service.js';
import type { SecretService } from '../../secrets/secret-service.js';

/** What the HTTP interface needs from the contexts; main/ wires it. */
export interface ApiDeps {
  executor: Executor;
  releases: ReleaseService;
  tokens: TokenService;
  secrets: Pick<SecretService, 'list' | 'set' | 'unset' | 'rotateKey'>;
  bus: EventBus;
  store: ReleaseStore & Pick<JourneyLog, 'loadEvents' | 'eventsAfter'> & Pick<NotificationOutbox, 'listNotifications'>;
  logs: Pick<StepWorkspace, 'readLog'>;
  /** Where a stage answers, for the board. */
  stageUrl: (stage: string) => string | undefined;
  version: string;
  /** The data plane's counters in the Prometheus text format. */
  metricsText: () => Promise<string>;
  /** Whether the database answers (and, for PGlite, its files are there). */
  database: () => Promise<{ ok: boolean; error?: string }>;
  /** Whether the data plane answers, and what it says of itself. */
  dataPlane: () => Promise<{ ok: boolean; pid?: number; port?: number; build?: string; error?: string }>;
}
