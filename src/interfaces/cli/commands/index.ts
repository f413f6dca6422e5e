import type { Command } from '../command.js';
import { auditCommands } from './audit.js';
import { authCommands } from './auth.js';
import { environmentCommands } from './environments.js';
import { eventCommands } from './events.js';
import { flagCommands } from './flags.js';
import { journeyCommands } from './journeys.js';
import { notificationCommands } from './notifications.js';
import { pipelineCommands } from './pipeline.js';
import { releaseCommands } from './releases.js';
import { rolloutCommands } from './rollout.js';
import { secretCommands } from './secrets.js';

/** The CLI's commands that talk to a server or read files; main/ adds those that run Sluice itself (up, down). */
export const contextCommands: Command[] = [
  ...pipelineCommands,
  ...releaseCommands,
  ...journeyCommands,
  ...eventCommands,
  ...notificationCommands,
  ...authCommands,
  ...auditCommands,
  ...secretCommands,
  ...flagCommands,
  ...environmentCommands,
  ...rolloutCommands,
];
