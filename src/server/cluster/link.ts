/**
 * Joins a server's directory to its backplane: this instance's own changes go out, the others'
 * come in and are announced to this instance's users as if they were local (classic datagrams,
 * qim deltas), through the same visibility rules. Applying a change twice announces nothing twice:
 * each change is compared with what the directory holds first.
 */
import type { AccountStore } from '../accounts.js';
import type { ServerContext } from '../context.js';
import type { LocalChange, OnlineUser } from '../directory.js';
import { announceVisibility, type Seen } from '../presence.js';
import type { Backplane, ClusterChange, SharedUser } from './backplane.js';
import { sameEndpoint } from '../../protocol/endpoint.js';

export class ClusterLink {
  constructor(
    private readonly ctx: ServerContext,
    private readonly backplane: Backplane,
    readonly instance: string,
    /** Forgets a local session whose user now logs in elsewhere (no announcement). */
    private readonly evict: (name: string) => void,
    /** The account store under the cluster's wrapper: bindings from elsewhere go straight in. */
    private readonly accounts: AccountStore,
  ) {}

  /** Joins the cluster, takes in its users and bindings, and starts publishing ours. */
  async start(): Promise<void> {
    const mine = (): SharedUser[] => [...this.ctx.directory.users()].filter((u) => u.instance === undefined).map((u) => shared(u, this.instance));
    const snapshot = await this.backplane.join(this.instance, (c) => this.#apply(c), mine);
    for (const [name, key] of snapshot.bindings) this.accounts.bind(name, key);
    for (const user of snapshot.users) this.#apply({ op: 'upsert', user });
    this.ctx.directory.onLocalChange = (c) => this.#publish(c);
  }

  /** Leaves the cluster: the others remove our users. */
  async stop(): Promise<void> {
    this.ctx.directory.onLocalChange = null;
    await this.backplane.leave();
  }

  #publish(c: LocalChange): void {
    if (c.after !== undefined) this.backplane.publish({ op: 'upsert', user: shared(c.after, this.instance) });
    else this.backplane.publish({ op: 'remove', name: c.before.name, instance: this.instance, reason: c.reason });
  }

  #apply(c: ClusterChange): void {
    const { ctx } = this;
    if (c.op === 'bind') {
      this.accounts.bind(c.name, c.key);
      return;
    }
    const before = ctx.directory.byName(c.op === 'upsert' ? c.user.name : c.name);
    if (c.op === 'remove') {
      if (before === undefined || before.instance !== c.instance) return; // stale: they moved, or are gone
      ctx.directory.remove(c.name);
      ctx.emit('logout', { name: c.name, endpoint: before.endpoint, reason: c.reason === 'replaced' ? 'replaced' : c.reason === 'logout' ? 'logout' : 'expired' });
      announceVisibility(ctx, c.name, seen(before), undefined);
      return;
    }
    const u = c.user;
    if (u.instance === this.instance) return; // our own, echoed back
    if (before !== undefined && same(before, u)) return;
    // Our user logged in on another instance: that one serves them now.
    if (before !== undefined && before.instance === undefined) this.evict(u.name);
    // A shared user is an online user that names its instance: listed as it is.
    const after: OnlineUser = u;
    ctx.directory.add(after);
    if (before === undefined) ctx.emit('login', { name: u.name, endpoint: u.endpoint, protocol: u.protocol });
    announceVisibility(ctx, u.name, seen(before), seen(after));
  }
}

/**
 * An account store whose first bindings are told to the whole cluster, so every instance refuses
 * the name to other keys. Two instances binding one name at the same moment: the backplane keeps
 * the first (Redis HSETNX); the other instance's session lasts until it ends.
 */
export function clusterAccounts(inner: AccountStore, backplane: Backplane): AccountStore {
  return {
    keyFor: (name) => inner.keyFor(name),
    bind: (name, key) => {
      const fresh = inner.keyFor(name) === undefined;
      const bound = inner.bind(name, key);
      if (fresh) backplane.publish({ op: 'bind', name, key: bound });
      return bound;
    },
    close: () => inner.close(),
  };
}

function seen(u: OnlineUser | undefined): Seen {
  return u === undefined ? undefined : { endpoint: u.endpoint, status: u.status };
}

function same(a: OnlineUser, b: SharedUser): boolean {
  return a.instance === b.instance && a.status === b.status && a.protocol === b.protocol && sameEndpoint(a.endpoint, b.endpoint);
}

function shared(u: OnlineUser, instance: string): SharedUser {
  return { ...u, instance };
}
