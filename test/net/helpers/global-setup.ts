/**
 * Global setup of the network suite (vitest.net.config.ts): fails the whole run at once, saying
 * why, when this process cannot build namespaces (not root, or ip/nft/conntrack/tcpdump missing),
 * and removes the namespaces of earlier runs that were killed, before and after the run.
 */
import { removeLeftovers, requireNetAdmin } from './sys.js';

export default function setup(): () => void {
  requireNetAdmin();
  removeLeftovers();
  return () => {
    removeLeftovers();
  };
}
