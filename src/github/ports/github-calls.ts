/** The calls to GitHub's REST API that Sluice files in the outbox (ADR 28), as the deliverer reads them. */
import type { ApiCall } from '../../notifications/ports/outbox.js';

/** GitHub's commit status states. */
export const STATUS_STATES = ['error', 'failure', 'pending', 'success'] as const;
export type StatusState = (typeof STATUS_STATES)[number];

/** GitHub's deployment status states Sluice sends. */
export const DEPLOYMENT_STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/** GitHub's limit on a status' description. */
export const DESCRIPTION_MAX = 140;

/** POST /repos/{owner}/{repo}/statuses/{sha}. */
export interface StatusCall extends ApiCall {
  kind: 'github-status';
  /** The environment or stage it is about, the release and when (as a notification shows them). */
  stage: string;
  release: string;
  at: string;
  repository: string;
  sha: string;
  state: StatusState;
  context: string;
  description: string;
  target_url?: string;
}

/** POST /repos/{owner}/{repo}/deployments, then POST …/deployments/{id}/statuses with the outcome. */
export interface DeploymentCall extends ApiCall {
  kind: 'github-deployment';
  stage: string;
  release: string;
  at: string;
  repository: string;
  /** The commit deployed. */
  ref: string;
  environment: string;
  description: string;
  transient: boolean;
  state: DeploymentState;
  environment_url?: string;
  log_url?: string;
}

export type GithubCall = StatusCall | DeploymentCall;

