import { auditApi } from './audit.js';
import { authApi } from './auth.js';
import { environmentsApi } from './environments.js';
import { flagsApi } from './flags.js';
import { githubApi } from './github.js';
import { journeysApi } from './journeys.js';
import { notificationsApi } from './notifications.js';
import { releasesApi } from './releases.js';
import { rolloutApi } from './rollout.js';
import { secretsApi } from './secrets.js';
import { sessionApi } from './session.js';
import { systemApi } from './system.js';

/** Every route of the API, by context: what the server registers and what the CLI calls. */
export const api = {
  system: systemApi,
  journeys: journeysApi,
  releases: releasesApi,
  rollout: rolloutApi,
  notifications: notificationsApi,
  auth: authApi,
  audit: auditApi,
  secrets: secretsApi,
  flags: flagsApi,
  environments: environmentsApi,
  github: githubApi,
  session: sessionApi,
};
