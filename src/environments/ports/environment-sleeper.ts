import type { StagePlan, StepIO } from '../../journeys/ports/target.js';

/**
 * What scales an environment to zero and back (docs/adr/0029): the local target, which stops and starts its instances
 * and keeps its route on the router asleep meanwhile (the router holds requests and calls for a wake).
 */
export interface EnvironmentSleeper {
  /**
   * When the environment's address last got a request, as the router saw it (ms since the epoch; the route's arrival in
   * the router when none came since), or undefined when the router has no route for it.
   */
  lastRequestAt(stage: StagePlan): Promise<number | undefined>;
  /**
   * Puts the route asleep (requests are held from now on), lets the requests under way finish, then stops the
   * instances. False when there is nothing to put to sleep (no deployment, or asleep already).
   */
  sleep(stage: StagePlan, io: StepIO): Promise<boolean>;
  /** Starts the instances again, waits until they are healthy, and routes to them: the held requests go on. */
  wake(stage: StagePlan, io: StepIO): Promise<void>;
}
