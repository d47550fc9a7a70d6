/**
 * Telling online users that someone joined or left. Classic users hear it as the classic
 * `login`/`logout` datagram, encoded once and sent to each; qim users will hear versioned, batched
 * deltas (docs/PROTOCOL.md).
 */
import { encodeClassic } from '../protocol/classic/datagram.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { ServerContext } from './context.js';

/** Announces a join or a leave of `name` to every other classic user. */
export function announce(ctx: ServerContext, kind: 'login' | 'logout', name: string, endpoint: Endpoint): void {
  const bytes = encodeClassic({ kind, name, endpoint });
  let recipients = 0;
  for (const user of ctx.directory.users()) {
    if (user.name === name || user.protocol !== 'classic') continue;
    ctx.send(bytes, user.endpoint);
    recipients++;
  }
  ctx.counters.broadcasts++;
  ctx.emit('broadcast', { kind, name, recipients });
}
