/**
 * Scenario 5, the cluster: the login storm over 1, 2 and 3 `QimServer` instances sharing one
 * directory through Redis (`qim server --redis`), users spread evenly over the instances. Each
 * user's list is complete when it holds every user of every instance. The run starts its own
 * `redis-server` on a free loopback port (nothing saved) and stops it by process id.
 */
import { startRedis } from '../../test/helpers/redis.js';
import { runStorm, type StormRun } from './login-storm.js';

export interface ClusterRun extends StormRun {
  readonly instances: number;
}

export async function runCluster(o: { n: number; instances: readonly number[]; deadlineMs: number }): Promise<ClusterRun[]> {
  const runs: ClusterRun[] = [];
  for (const instances of o.instances) {
    // A fresh Redis per run: no directory or stream left over from the one before.
    const redis = await startRedis();
    try {
      runs.push({ ...(await runStorm({ impl: 'qim', n: o.n, deadlineMs: o.deadlineMs, instances, redis: redis.url })), instances });
    } finally {
      await redis.stop();
    }
  }
  return runs;
}
