import { z } from 'zod';
import { boundedDuration, durationSchema as duration } from '../kernel/duration.js';
import { analysisSchema, strategySchema } from '../rollout/rollout-schema.js';
import { closest } from '../kernel/suggest.js';

/** Days of the week as deploy windows name them, Monday first. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
/** The roles a protection rule may name (a viewer only reads; admin always may). */
export const PROTECTION_ROLES = ['deployer', 'approver', 'admin'] as const;

/** True when `tz` is a time zone this runtime knows (IANA names such as Europe/Berlin, or UTC). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const oneOf = <const T extends readonly [string, ...string[]]>(what: string, values: T) =>
  z.enum(values, {
    error: (i) => {
      const hint = typeof i.input === 'string' ? closest(i.input, values) : undefined;
      return `unknown ${what} ${JSON.stringify(i.input)}${hint ? ` (did you mean "${hint}"?)` : ''}; known: ${values.join(', ')}`;
    },
  });

const timeOfDay = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'a time of day as HH:MM, from 00:00 to 24:00');
const isInstant = (v: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) && !Number.isNaN(Date.parse(v));
const instant = z.string().refine(isInstant, { message: 'an instant with its offset, e.g. 2026-12-24T00:00:00Z or 2026-12-24T00:00:00+01:00' });

/** When a stage may start deploying: on these days, from-to in local time of `timeZone` (to <= from runs past midnight). */
const deployWindow = z
  .strictObject({
    days: z.array(oneOf('day', WEEKDAYS)).min(1),
    from: timeOfDay,
    to: timeOfDay,
    /** An IANA time zone (default UTC). */
    timeZone: z.string().refine(isTimeZone, { message: 'an IANA time zone such as Europe/Berlin or UTC' }).optional(),
  })
  .refine((w) => w.from !== w.to, { message: 'from and to are the same time; for a whole day write from: "00:00", to: "24:00"' });

/** A span of time in which the stage starts no deploy. */
const freeze = z
  .strictObject({ from: instant, to: instant, reason: z.string().min(1).max(200) })
  .refine((f) => !isInstant(f.from) || !isInstant(f.to) || Date.parse(f.from) < Date.parse(f.to), { message: 'from must come before to' });

/** Who may move a release into the stage and approve it there, how many approve, and when it may deploy. */
const protection = z.strictObject({
  /** Roles whose tokens may promote into the stage (admin always may); any role when absent. */
  promote: z.array(oneOf('role', PROTECTION_ROLES)).min(1).optional(),
  /** Roles whose tokens may approve (or reject) at the stage (admin always may); any role when absent. */
  approve: z.array(oneOf('role', PROTECTION_ROLES)).min(1).optional(),
  /** Distinct tokens that must approve at each approval of the stage (default 1). */
  approvals: z.number().int().min(1).max(10).optional(),
  /** The token that created the release may not approve it. */
  separateApprover: z.boolean().optional(),
  /** When present, the stage starts deploying only inside one of these windows. */
  windows: z.array(deployWindow).min(1).optional(),
  /** Spans in which the stage starts no deploy. */
  freezes: z.array(freeze).optional(),
});

/** `true`: a person approves after verify (and bake); `{ before: deploy }`: before the stage deploys; both may be given. */
const approval = z.union([
  z.boolean(),
  z
    .strictObject({
      before: z.literal('deploy', { error: 'the approval before is before: deploy' }).optional(),
      after: z.literal('verify', { error: 'the approval after is after: verify' }).optional(),
    })
    .refine((a) => a.before !== undefined || a.after !== undefined, { message: 'say when: before: deploy, after: verify, or both' }),
]);

/** The kinds of notification a `notify:` target may keep to (each is described with `Notification` in the notifications context). */
export const NOTIFICATION_KINDS = ['step-failed', 'needs-decision', 'rolled-back', 'rollback-failed', 'needs-approval', 'needs-promotion', 'paused', 'ramp-regressed', 'ramp-paused'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** DNS-safe label: lower-case letters, digits and dashes, at most 63 characters. */
const dnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be DNS-safe: lower-case letters, digits and dashes, 1-63 characters',
  );

const envValue = z.union([z.string(), z.number(), z.boolean()]);
const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), envValue);

/** A command step: a shell command line, or an object with a timeout. */
const commandStep = z.union([
  z.string().min(1),
  z.strictObject({ run: z.string().min(1), timeout: duration.optional() }),
]);

const stepName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'step names use lower-case letters, digits, - and _');

const localTarget = z.strictObject({
  /** The command that starts one instance; it must listen on $PORT. */
  start: z.string().min(1).optional(),
  instances: z.number().int().min(1).max(32).optional(),
  health: z
    .strictObject({
      path: z.string().startsWith('/').optional(),
      timeout: duration.optional(),
    })
    .optional(),
  /** How long an old instance may take to stop after SIGTERM before SIGKILL. */
  stopTimeout: duration.optional(),
  /** The user instances run as, when Sluice runs as root (its uid and gid; the release folder is made readable by it). */
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a user name').optional(),
});

const commandTarget = z.strictObject({
  deploy: z.string().min(1).optional(),
  rollback: z.string().min(1).optional(),
  health: z.string().min(1).optional(),
  /** The URL at which the stage answers; handed to verify commands as SLUICE_STAGE_URL. */
  url: z.string().url().optional(),
  timeout: duration.optional(),
});

/** A secret's name: an environment variable name that is none of those Sluice sets itself. */
export const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name')
  .refine((n) => !n.startsWith('SLUICE_') && n !== 'PORT', 'SLUICE_* and PORT are set by Sluice; choose another name');

// --- databases (issue 12, ADR 26) ---
/** How an environment gets its copy of its source stage's database. */
export const CLONE_STRATEGIES = ['template', 'dump', 'empty'] as const;
const pgUrl = z
  .string()
  .max(2048)
  .refine((u) => /^postgres(ql)?:\/\//.test(u) && URL.canParse(u), { message: 'a PostgreSQL URL: postgres://user@host:5432/database' })
  .refine((u) => !URL.canParse(u) || new URL(u).password === '', {
    message: 'carries a password: sluice.yaml is shown by the API; keep the password in a stage secret and name it with database.password',
  })
  .refine((u) => !URL.canParse(u) || /^\/[^/]+$/.test(new URL(u).pathname), { message: 'names no database: end it with /<database>' });
/**
 * A stage's PostgreSQL database. Its workloads get `url` as `env` (DATABASE_URL); an environment cloned from the stage
 * gets a copy of its own, made by `clone`, and `env` points at the copy.
 */
const databaseSchema = z.strictObject({
  /** The stage's database, without a password. */
  url: pgUrl,
  /** template (default): CREATE DATABASE ... TEMPLATE a snapshot; dump: pg_dump | pg_restore; empty: a new database, then seed. */
  clone: oneOf('clone strategy', CLONE_STRATEGIES).optional(),
  /** The variable workloads read the URL from (default DATABASE_URL). */
  env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name').optional(),
  /** The stage secret holding the password of the URL's user (it is one of the stage's secrets). */
  password: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a secret name').optional(),
  /** Where environments' copies are made (default: the server of url); a dump's source is usually elsewhere. */
  server: pgUrl.optional(),
  /** With clone: empty, run once on a new copy after the migrations, with the copy's URL in env. */
  seed: z.string().min(1).max(4096).optional(),
  /** template: how old the snapshot copies are made from may get before it is taken again (default 5m). */
  snapshot: duration.optional(),
  /** template: copies kept ready from the snapshot, so that a create only renames one (default 1; 0: none). */
  spares: z.number().int().min(0).max(5).optional(),
});
// --- end databases ---

/** The fields a stage may set, and that `defaults` and `extends` layer. */
const stageFields = {
  target: z.enum(['local', 'command']).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  env: envMap.optional(),
  /** Names of the stage's secrets: set with `sluice secret set <stage> NAME`, given to its workloads as variables. */
  secrets: z.array(secretName).max(100).optional(),
  local: localTarget.optional(),
  command: commandTarget.optional(),
  verify: z.record(stepName, commandStep).optional(),
  approval: approval.optional(),
  protection: protection.optional(),
  bake: duration.optional(),
  autoPromote: z.boolean().optional(),
  strategy: strategySchema.optional(),
  /**
   * At most `maxAhead` releases in the stage that have not reached the pipeline's last stages; the next wait, in
   * order, until one gets there (or its journey ends).
   */
  lane: z.strictObject({ maxAhead: z.number().int().min(1).max(20) }).optional(),
  /** The stage's PostgreSQL database (ADR 26). */
  database: databaseSchema.optional(),
};

export const stageDefaultsSchema = z.strictObject(stageFields);

export const stageSchema = z.strictObject({
  ...stageFields,
  after: z.union([dnsLabel, z.array(dnsLabel)]).optional(),
  extends: dnsLabel.optional(),
});

const notifyTarget = z
  .strictObject({
    /** A generic JSON webhook: it gets each notification as it is. */
    webhook: z.string().url().optional(),
    /** A Slack-compatible incoming webhook: it gets `{ text }`. */
    slack: z.string().url().optional(),
    /** Only notifications about these stages (`commit` for the commit checks); every stage when absent. */
    stages: z.array(z.string().min(1)).min(1).optional(),
    /** Only notifications of these kinds; every kind when absent. */
    on: z
      .array(z.enum(NOTIFICATION_KINDS, { error: (i) => `unknown kind ${JSON.stringify(i.input)}; known: ${NOTIFICATION_KINDS.join(', ')}` }))
      .min(1)
      .optional(),
  })
  .refine((t) => (t.webhook === undefined) !== (t.slack === undefined), { message: 'give one address: webhook: or slack:' });

/**
 * An app this one depends on, deployed by Sluice too: each stage gets the URL of the dependency's stage of the same
 * name (or the one `stages` maps it to) in a variable; an environment gets its source stage's.
 */
const serviceSchema = z.strictObject({
  /** The dependency's app name (its sluice.yaml's `app`). */
  app: dnsLabel,
  /** The variable the URL is given in (default: the service's name upper-cased, with _URL). */
  env: secretName.optional(),
  /** The dependency's address, with {stage} and {app} filled in (default: its stage on Sluice's router, port 7080). */
  url: z.string().min(1).max(2048).optional(),
  /** This app's stage → the dependency's stage, where their names differ. */
  stages: z.record(z.string(), dnsLabel).optional(),
});

/** Scale to zero (docs/adr/0029): an environment with no request for this long has its instances stopped. */
const environmentSleepFields = {
  idleAfter: boundedDuration({ ms: 1000, message: 'at least 1s' }, { ms: 30 * 86_400_000, message: 'at most 30d' }).optional(),
};

export const pipelineSchema = z.strictObject({
  $schema: z.string().optional(),
  app: dnsLabel,
  artifact: z.strictObject({
    /** Run once in the app directory to build the artifact. */
    build: z.string().min(1).optional(),
    /** A directory or a .tar/.tgz file, relative to the app directory. */
    output: z.string().min(1),
  }),
  commit: z
    .strictObject({
      budget: duration.optional(),
      steps: z.record(stepName, commandStep),
    })
    .optional(),
  /**
   * Where failures, rollbacks and stages waiting for a person are announced: a generic JSON webhook, or a
   * Slack-compatible incoming webhook; each may keep to some stages and some kinds.
   */
  notify: z.array(notifyTarget).optional(),
  /** On-demand environments (ADR 25, 27, 29): what a delivery lead's approve does, and when an idle one sleeps. */
  environments: z
    .strictObject({
      ...environmentSleepFields,
      /** promote: the approved build goes to the environment's source stage through its journey; record: the verdict only. */
      onApprove: z.enum(['promote', 'record'], { error: (i) => `onApprove is promote or record, not ${JSON.stringify(i.input)}` }).optional(),
      /** Destroy an environment once its build is promoted (default true). */
      destroyOnPromote: z.boolean().optional(),
    })
    .optional(),
  /** Metric sources besides the built-in router metrics. */
  metrics: z
    .strictObject({
      prometheus: z
        .strictObject({
          url: z.string().url(),
          /**
           * How often this Prometheus scrapes the series the queries read (default 15s, Prometheus' default). {{window}}
           * is never shorter than four scrapes, and a literal range under rate() may not be either.
           */
          scrapeInterval: boundedDuration(
            { ms: 1000, message: 'at least 1s (if Prometheus scrapes faster, say 1s: windows are whole seconds, and 4s holds enough scrapes)' },
            { ms: 5 * 60_000, message: "at most 5m: a series scraped less often goes stale between scrapes (Prometheus' 5m lookback)" },
          ).optional(),
        })
        .optional(),
    })
    .optional(),
  /** Named analyses that canary steps refer to. */
  analyses: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/), analysisSchema).optional(),
  /** Apps this one calls: each stage gets the URL of the dependency's matching stage (`services.<name>`). */
  services: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'a service name: lower-case letters, digits, "-" and "_"'), serviceSchema).optional(),
  /** Run before the new instances start, on every deploy of every stage and environment, with the stage's database URL (ADR 26). */
  migrate: commandStep.optional(),
  defaults: stageDefaultsSchema.optional(),
  stages: z.record(dnsLabel, stageSchema),
});

/** The pipeline file as written (before layering). */
export type PipelineFile = z.infer<typeof pipelineSchema>;
export type StageInput = z.infer<typeof stageSchema>;

/** JSON Schema of sluice.yaml, for editors. */
export function pipelineJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(pipelineSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>),
    $id: 'https://sluice.dev/schema/sluice.schema.json',
    title: 'Sluice pipeline (sluice.yaml)',
  };
}
