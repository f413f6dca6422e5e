import { join } from 'node:path';
import { verify } from '@octokit/webhooks-methods';
import type { AuditDraft } from '../audit/ports/audit-trail.js';
import type { CreateEnvironmentInput, EnvironmentView } from '../environments/environment-service.js';
import { type Actor, systemActor } from '../kernel/actor.js';
import type { Clock } from '../kernel/clock.js';
import { isSluiceError, SluiceError } from '../kernel/errors.js';
import { KeyedQueue } from '../kernel/keyed-queue.js';
import type { OutboxEntry } from '../notifications/ports/outbox.js';
import type { Plan } from '../pipeline/pipeline.js';
import type { CreateReleaseInput } from '../releases/release-service.js';
import { DELIVERY_ID, type GithubEvent, parseGithubEvent, PR_CLOSE_ACTIONS, PR_DEPLOY_ACTIONS, type PullRequestEvent, type PushEvent } from './github-event.js';
import { type DeploymentState, githubEntry, type StatusState } from './github-report.js';
import type { GithubSettings } from './github-settings.js';
import type { SourceCheckout } from './ports/source-checkout.js';

/** The actor of everything a webhook makes Sluice do. */
export const GITHUB_ACTOR: Actor = systemActor('github');

/** Delivery ids remembered to answer a redelivery without acting again (what it asked is idempotent besides). */
const REMEMBERED_DELIVERIES = 10_000;
/** Deliveries taken and not done yet; past it, 503 (GitHub's "Redeliver" sends one again later). */
export const MAX_PENDING_DELIVERIES = 100;

export interface GithubServiceOptions {
  settings: GithubSettings;
  checkout: SourceCheckout;
  /** Makes a release from a build folder (ReleaseService.create), and reads one by version. */
  releases: {
    create(input: CreateReleaseInput): Promise<{ release: { version: string; journeyId: string }; created: boolean }>;
    get(version: string): Promise<{ version: string; journeyId: string } | undefined>;
  };
  environments: {
    create(actor: Actor, input: CreateEnvironmentInput, audit?: readonly AuditDraft[]): Promise<EnvironmentView>;
    redeploy(name: string, ref: string | undefined, audit?: readonly AuditDraft[]): Promise<EnvironmentView>;
    destroy(name: string, audit?: readonly AuditDraft[]): Promise<void>;
    show(name: string): Promise<EnvironmentView>;
  };
  /** A journey's status, by id. */
  journeyStatus: (journeyId: string) => string | undefined;
  plan: () => Plan;
  /** Files API calls in the outbox (and wakes it). */
  outbox: (entries: OutboxEntry[]) => Promise<void>;
  /** Appends audit records. */
  audit: (drafts: AuditDraft[]) => Promise<void>;
  /** Sluice's API address, for the links in statuses. */
  apiUrl: () => string;
  clock: Clock;
  onError?: (e: unknown) => void;
}

/** The headers of a delivery Sluice reads. */
export interface WebhookHeaders {
  event: string | undefined;
  delivery: string | undefined;
  signature: string | undefined;
}

/** What the webhook endpoint answers: accepted (the work runs on), ignored, or a redelivery of one already taken. */
export interface WebhookAnswer {
  status: 'accepted' | 'ignored' | 'duplicate';
  delivery: string;
  /** What Sluice does about it, or why it does nothing. */
  message: string;
}

/**
 * GitHub's side of Sluice (ADR 28). A delivery is checked (headers, then its signature against the webhook secret,
 * then its payload) before anything happens, and answered at once; what it asks runs after, one thing at a time per
 * pull request (and per push): a pull request opened, reopened or synchronized gets its head built into a release
 * and deployed to its environment `pr-<n>`; closed (merged or not), its environment is destroyed; a push to the main
 * branch makes a release whose journey starts. Each outcome goes back to GitHub through the outbox as a commit status
 * (and, for an environment, a deployment), and each act is audited as the system actor `github`.
 */
export class GithubService {
  private readonly queue = new KeyedQueue();
  private readonly seen = new Set<string>();
  private readonly work = new Set<Promise<unknown>>();
  /** Journeys started by a push, watched to report their outcome on the commit. */
  private readonly watched = new Map<string, { sha: string; version: string; key: string }>();

  constructor(private readonly o: GithubServiceOptions) {}

  /**
   * Takes one delivery. UNAUTHORIZED for a missing or wrong signature, BAD_REQUEST naming the header or field for
   * anything else wrong; either way nothing changes.
   */
  async receive(h: WebhookHeaders, body: string): Promise<WebhookAnswer> {
    const event = h.event ?? '';
    if (!/^[a-z_]{1,64}$/.test(event)) throw new SluiceError('BAD_REQUEST', `header X-GitHub-Event: ${h.event === undefined ? 'missing' : `not an event name: ${JSON.stringify(event.slice(0, 80))}`}`);
    const delivery = h.delivery ?? '';
    if (!DELIVERY_ID.test(delivery)) throw new SluiceError('BAD_REQUEST', `header X-GitHub-Delivery: ${h.delivery === undefined ? 'missing' : 'not a delivery id (letters, digits and "-", at most 100)'}`);
    const signature = h.signature ?? '';
    if (!/^sha256=[0-9a-f]{64}$/.test(signature))
      throw new SluiceError('UNAUTHORIZED', `header X-Hub-Signature-256: ${h.signature === undefined ? 'missing' : 'not sha256=<64 hex digits>'}; set the webhook's secret on GitHub to Sluice's SLUICE_GITHUB_WEBHOOK_SECRET`);
    // A signature that makes the check throw is as wrong as one that does not match.
    const ok = await verify(this.o.settings.webhookSecret, body, signature).catch(() => false);
    if (!ok) throw new SluiceError('UNAUTHORIZED', 'header X-Hub-Signature-256 does not match the body: it was not signed with this server\'s webhook secret');
    if (this.seen.has(delivery)) return { status: 'duplicate', delivery, message: `delivery ${delivery} was taken before; nothing more is done` };
    const e = parseGithubEvent(event, body);
    if (!e) return { status: 'ignored', delivery, message: `Sluice does not act on ${event} events (it acts on push and pull_request)` };
    if (e.repository.toLowerCase() !== this.o.settings.repository.toLowerCase())
      throw new SluiceError('BAD_REQUEST', `webhook payload: repository.full_name is ${e.repository}, but this server takes events of ${this.o.settings.repository}`, { where: 'repository.full_name' });
    const plan = this.decide(e, delivery);
    if (!plan) return { status: 'ignored', delivery, message: ignoredWhy(e, this.o.settings.mainBranch) };
    if (this.work.size >= MAX_PENDING_DELIVERIES)
      throw new SluiceError('BUSY', `${this.work.size} GitHub deliveries are being worked on, the most Sluice takes at once; redeliver this one later`);
    this.remember(delivery);
    await this.o.audit([{ actor: GITHUB_ACTOR, action: 'github.webhook', reason: `${plan.what} (GitHub delivery ${delivery})`, links: { delivery, ...plan.links }, outcome: 'done' }]);
    const running = this.queue
      .run(plan.key, plan.run)
      .catch((err: unknown) => this.o.onError?.(err))
      .finally(() => this.work.delete(running));
    this.work.add(running);
    return { status: 'accepted', delivery, message: plan.what };
  }

  /** Resolves once the work of the deliveries taken so far is done (tests; a stop). */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.all([...this.work]);
  }

  /** Follows journeys started by a push: once one ends, its commit's status says how. */
  observe(journeyId: string): void {
    const w = this.watched.get(journeyId);
    if (!w) return;
    const status = this.o.journeyStatus(journeyId);
    if (status === undefined || status === 'running') return;
    this.watched.delete(journeyId);
    const state: StatusState = status === 'succeeded' ? 'success' : status === 'superseded' ? 'error' : 'failure';
    void this.status(w.sha, 'journey', w.version, state, `release ${w.version}: its journey ${status}`, `${w.key}/journey-${status}`, this.journeyLink(w.version)).catch((e: unknown) => this.o.onError?.(e));
  }

  private remember(delivery: string): void {
    if (this.seen.size >= REMEMBERED_DELIVERIES) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(delivery);
  }

  private decide(e: GithubEvent, delivery: string): Work | undefined {
    if (e.kind === 'push') {
      if (e.deleted || e.ref !== `refs/heads/${this.o.settings.mainBranch}` || /^0+$/.test(e.after)) return undefined;
      const version = `${this.o.settings.mainBranch.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 40)}-${e.after.slice(0, 12)}`;
      const what = `push to ${this.o.settings.mainBranch} at ${e.after.slice(0, 12)}: release ${version} and its journey`;
      return { key: 'push', what, links: { release: version }, run: () => this.onPush(e, version, delivery) };
    }
    const name = `pr-${e.number}`;
    if ((PR_DEPLOY_ACTIONS as readonly string[]).includes(e.action)) {
      const version = `pr-${e.number}-${e.headSha.slice(0, 12)}`;
      const what = `pull request #${e.number} ${e.action}: environment ${name} runs ${version}`;
      return { key: name, what, links: { environment: name, release: version }, run: () => this.onPullRequest(e, name, version, delivery) };
    }
    if ((PR_CLOSE_ACTIONS as readonly string[]).includes(e.action))
      return {
        key: name,
        what: `pull request #${e.number} ${e.merged ? 'merged' : 'closed'}: environment ${name} is destroyed`,
        links: { environment: name },
        run: () => this.onClose(e, name, delivery),
      };
    return undefined;
  }

  private async onPullRequest(e: PullRequestEvent, name: string, version: string, delivery: string): Promise<void> {
    const key = `${delivery}/${name}`;
    const link = `${this.o.apiUrl()}/api/v1/environments/${name}`;
    const reason = `pull request #${e.number} ${e.action} at ${e.headSha.slice(0, 12)} (GitHub delivery ${delivery})`;
    await this.status(e.headSha, name, version, 'pending', `building ${version} for environment ${name}`, `${key}/pending`, link);
    try {
      await this.release(e.headSha, `refs/pull/${e.number}/head`, version, true, reason);
      const audit = (action: string): AuditDraft[] => [{ actor: GITHUB_ACTOR, action, reason, links: { environment: name, release: version }, outcome: 'done' }];
      const existing = await this.o.environments.show(name).catch((err: unknown) => {
        if (isSluiceError(err) && err.code === 'NOT_FOUND') return undefined;
        throw err;
      });
      const view =
        existing === undefined
          ? await this.o.environments.create(GITHUB_ACTOR, { name, pr: e.number, branch: e.headRef, from: this.environmentsFrom(), ref: version }, audit('environment.create'))
          : existing.release.version === version && existing.status === 'ready'
            ? existing
            : await this.o.environments.redeploy(name, version, audit('environment.deploy'));
      const ok = view.status === 'ready';
      const said = ok ? `environment ${name} serves ${version}` : `environment ${name} failed to deploy ${version}: ${view.reason ?? view.status}`;
      await this.report(e.headSha, name, version, ok ? 'success' : 'failure', said, key, view.url ?? link, link);
    } catch (err) {
      await this.report(e.headSha, name, version, 'error', `environment ${name} was not deployed: ${(err as Error).message}`, key, link, link);
      throw err;
    }
  }

  private async onClose(e: PullRequestEvent, name: string, delivery: string): Promise<void> {
    const reason = `pull request #${e.number} ${e.merged ? 'merged' : 'closed'} (GitHub delivery ${delivery})`;
    try {
      await this.o.environments.destroy(name, [{ actor: GITHUB_ACTOR, action: 'environment.destroy', reason, links: { environment: name }, outcome: 'done' }]);
    } catch (err) {
      // Closed before its environment was made, or closed twice: nothing is left to remove.
      if (!(isSluiceError(err) && err.code === 'NOT_FOUND')) throw err;
    }
  }

  private async onPush(e: PushEvent, version: string, delivery: string): Promise<void> {
    const key = `${delivery}/push`;
    const reason = `push to ${this.o.settings.mainBranch} at ${e.after.slice(0, 12)} (GitHub delivery ${delivery})`;
    await this.status(e.after, 'journey', version, 'pending', `building release ${version}`, `${key}/pending`, this.journeyLink(version));
    try {
      const journeyId = await this.release(e.after, e.ref, version, false, reason);
      this.watched.set(journeyId, { sha: e.after, version, key });
      await this.status(e.after, 'journey', version, 'pending', `release ${version}: its journey runs`, `${key}/journey`, this.journeyLink(version));
      this.observe(journeyId);
    } catch (err) {
      await this.status(e.after, 'journey', version, 'error', `release ${version} was not made: ${(err as Error).message}`, `${key}/error`, this.journeyLink(version));
      throw err;
    }
  }

  /** The release of a commit: the one made before for it, or a build of its tree. Answers its journey's id. */
  private async release(sha: string, fetchRef: string, version: string, hold: boolean, reason: string): Promise<string> {
    const had = await this.o.releases.get(version);
    if (had) return had.journeyId;
    const tree = await this.o.checkout.checkout(sha, fetchRef);
    try {
      const made = await this.o.releases.create({
        version,
        sourceDir: join(tree.dir, this.o.settings.appPath),
        hold,
        sourceRef: sha,
        by: GITHUB_ACTOR,
        audit: { actor: GITHUB_ACTOR, action: 'release.create', reason, links: { release: version }, outcome: 'done' },
      });
      return made.release.journeyId;
    } finally {
      await tree.dispose();
    }
  }

  /** The stage environments are cloned from: the setting, else the stage the pipeline's last stage comes after. */
  private environmentsFrom(): string {
    if (this.o.settings.environmentsFrom) return this.o.settings.environmentsFrom;
    const stages = this.o.plan().stages;
    const parent = stages.at(-1)?.after[0];
    if (!parent) throw new SluiceError('BAD_REQUEST', `the pipeline has no stage before its last one to clone environments from; set SLUICE_GITHUB_ENV_FROM`);
    return parent;
  }

  private journeyLink(version: string): string {
    return `${this.o.apiUrl()}/api/v1/releases/${encodeURIComponent(version)}`;
  }

  /** An environment's outcome: its commit's status, and a deployment with its status. */
  private async report(
    sha: string,
    name: string,
    version: string,
    state: StatusState,
    description: string,
    key: string,
    envUrl: string,
    link: string,
  ): Promise<void> {
    const deployment: DeploymentState = state === 'success' ? 'success' : state === 'failure' ? 'failure' : 'error';
    const common = { stage: name, release: version, at: this.at(), repository: this.o.settings.repository, description };
    await this.o.outbox([
      this.entry({ ...common, kind: 'github-status', sha, state, context: `sluice/${name}`, target_url: link }, `${key}/status-${state}`),
      this.entry(
        {
          ...common,
          kind: 'github-deployment',
          ref: sha,
          environment: name,
          transient: true,
          state: deployment,
          ...(state === 'success' ? { environment_url: envUrl } : {}),
          log_url: `${link}/logs`,
        },
        `${key}/deployment-${state}`,
      ),
    ]);
  }

  private async status(sha: string, stage: string, version: string, state: StatusState, description: string, key: string, link: string) {
    const call = { kind: 'github-status' as const, stage, release: version, at: this.at(), repository: this.o.settings.repository, sha, state, context: `sluice/${stage}`, description };
    await this.o.outbox([this.entry({ ...call, target_url: link }, key)]);
  }

  private entry(call: Parameters<typeof githubEntry>[1], key: string): OutboxEntry {
    return githubEntry(this.o.settings.apiUrl, call, key);
  }

  private at(): string {
    return new Date(this.o.clock.now()).toISOString();
  }
}

/** What a delivery asks, decided: run `run` on the queue of `key`. */
interface Work {
  key: string;
  what: string;
  links: Record<string, string>;
  run: () => Promise<void>;
}

function ignoredWhy(e: GithubEvent, main: string): string {
  if (e.kind === 'push') return e.deleted ? `${e.ref} was deleted; nothing to build` : `a push to ${e.ref}: only pushes to refs/heads/${main} start a journey`;
  return `pull request #${e.number} ${e.action}: Sluice acts on ${[...PR_DEPLOY_ACTIONS, ...PR_CLOSE_ACTIONS].join(', ')}`;
}
