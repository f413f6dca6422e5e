import type { AuditTrail } from '../../audit/ports/audit-trail.js';
import type { SessionService } from '../../auth/session-service.js';
import type { TokenService } from '../../auth/token-service.js';
import type { Clock } from '../../kernel/clock.js';
import type { EventBus } from '../../journeys/event-bus.js';
import type { Executor } from '../../journeys/executor.js';
import type { JourneyLog } from '../../journeys/ports/journey-log.js';
import type { StepWorkspace } from '../../journeys/ports/step-workspace.js';
import type { NotificationOutbox } from '../../notifications/ports/outbox.js';
import type { ReleaseStore } from '../../releases/ports/release-store.js';
import type { ReleaseService } from '../../releases/release-service.js';
import type { EnvironmentService, EnvironmentsChanged } from '../../environments/environment-service.js';
import type { GithubService } from '../../github/github-service.js';
import type { FlagService, FlagsChanged, RampView } from '../../flags/flag-service.js';
import type { RampSeries } from '../../flags/ramp-runner.js';
import type { Fanout } from '../../kernel/fanout.js';
import type { SecretService } from '../../secrets/secret-service.js';
import type { JudgeRunner } from '../../rollout/ports/judge-runner.js';
import type { StreamLimits } from './streams.js';

/** What the HTTP interface needs from the contexts; main/ wires it. */
export interface ApiDeps {
  executor: Executor;
  releases: ReleaseService;
  tokens: TokenService;
  /** The dashboard's browser sessions. */
  sessions: SessionService;
  /** Where the dashboard's production build is (index.html and assets/); absent or missing: a page says how to build it. */
  webDir?: string;
  secrets: Pick<SecretService, 'list' | 'set' | 'unset' | 'rotateKey'>;
  /** Feature flags. */
  flags: FlagService;
  /** On-demand environments. */
  environments: Pick<EnvironmentService, 'list' | 'show' | 'create' | 'redeploy' | 'pin' | 'destroy' | 'logs' | 'review' | 'extend'>;
  /** GitHub's webhook (ADR 28); absent when the integration is not set up. */
  github?: Pick<GithubService, 'receive'>;
  /** A ramp's metrics, treatment against control (RampRunner.series, now). */
  rampSeries: (r: RampView) => Promise<RampSeries>;
  /** Each saved flag change, for the event stream (`flags.changed` frames). */
  flagChanges: Pick<Fanout<FlagsChanged>, 'subscribe'>;
  /** Each environment written, made or removed, for the event stream (`environments.changed` frames, ADR 27). */
  environmentChanges: Pick<Fanout<EnvironmentsChanged>, 'subscribe'>;
  bus: EventBus;
  store: ReleaseStore & Pick<JourneyLog, 'loadEvents' | 'eventsAfter'> & Pick<NotificationOutbox, 'listNotifications'>;
  logs: Pick<StepWorkspace, 'readLog'>;
  /** The audit trail: the registrar appends the records no handler wrote with its events; audit routes read it. */
  audit: AuditTrail;
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
  /** The engine's clock: what waits for a deploy window is shown against it. */
  clock: Clock;
  /** The data plane's counters in the Prometheus text format. */
  metricsText: () => Promise<string>;
  /** Whether the database answers (and, for PGlite, its files are there). */
  database: () => Promise<{ ok: boolean; error?: string }>;
  /** Whether the data plane answers, and what it says of itself. */
  dataPlane: () => Promise<{ ok: boolean; pid?: number; port?: number; build?: string; error?: string }>;
  /** How open the API is; absent: it listens on loopback only, and answers loopback names only. */
  access?: ApiAccess;
}

/** How open the API is. */
export interface ApiAccess {
  /** The API listens beyond loopback: reads need a token too. */
  readsNeedToken: boolean;
  /** Host names (lower-case; IPv6 in brackets) the API answers to besides loopback ones. */
  allowedHosts: readonly string[];
}
