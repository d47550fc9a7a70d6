/**
 * The backplane in memory: instances in one process share one `MemoryHub`. A lone server gets a
 * hub of its own, so it needs nothing else; tests put several servers on one hub to check the
 * cluster rules without Redis, against the same compliance suite as `RedisBackplane`.
 */
import type { Backplane, BackplaneTiming, ClusterChange, JoinSnapshot, SharedUser } from './backplane.js';
import { DEFAULT_BACKPLANE_TIMING } from './backplane.js';

interface Member {
  readonly deliver: (change: ClusterChange) => void;
  expires: number;
}

/** What the instances of one process share. */
export class MemoryHub {
  readonly users = new Map<string, SharedUser>();
  readonly bindings = new Map<string, Buffer>();
  readonly members = new Map<string, Member>();

  constructor(readonly timing: BackplaneTiming = DEFAULT_BACKPLANE_TIMING) {}

  /** Sends a change to every member but its origin, as the shared state changes. */
  apply(change: ClusterChange, origin: string): void {
    if (change.op === 'upsert') this.users.set(change.user.name, change.user);
    else if (change.op === 'bind') {
      if (this.bindings.has(change.name)) return;
      this.bindings.set(change.name, change.key);
    } else {
      if (this.users.get(change.name)?.instance !== change.instance) return;
      this.users.delete(change.name);
    }
    for (const [id, m] of this.members) if (id !== origin) m.deliver(change);
  }

  /** Removes the users of members whose lease ran out. */
  sweep(now: number): void {
    for (const [id, m] of this.members) {
      if (m.expires > now) continue;
      this.members.delete(id);
      for (const u of [...this.users.values()]) {
        if (u.instance === id) this.apply({ op: 'remove', name: u.name, instance: id, reason: 'instance-lost' }, id);
      }
    }
  }
}

export class MemoryBackplane implements Backplane {
  #instance: string | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(readonly hub: MemoryHub = new MemoryHub()) {}

  async join(instance: string, onChange: (change: ClusterChange) => void): Promise<JoinSnapshot> {
    const hub = this.hub;
    this.#instance = instance;
    hub.sweep(Date.now());
    // Delivered on a later tick, as a network would: a change never re-enters its sender's stack.
    hub.members.set(instance, { deliver: (c) => queueMicrotask(() => onChange(c)), expires: Date.now() + hub.timing.instanceLeaseMs });
    this.#timer = setInterval(() => this.#renew(), hub.timing.renewMs);
    this.#timer.unref();
    return { users: [...hub.users.values()].filter((u) => u.instance !== instance), bindings: [...hub.bindings] };
  }

  publish(change: ClusterChange): void {
    if (this.#instance === null || !this.hub.members.has(this.#instance)) return;
    this.hub.apply(change, this.#instance);
  }

  async leave(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const id = this.#instance;
    if (id === null) return;
    for (const u of [...this.hub.users.values()]) if (u.instance === id) this.hub.apply({ op: 'remove', name: u.name, instance: id, reason: 'logout' }, id);
    this.hub.members.delete(id);
    this.#instance = null;
  }

  /** Stops renewing without leaving, as a killed process would (tests): its lease runs out. */
  crash(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#instance = null;
  }

  #renew(): void {
    const id = this.#instance;
    const me = id === null ? undefined : this.hub.members.get(id);
    if (me === undefined) return;
    me.expires = Date.now() + this.hub.timing.instanceLeaseMs;
    this.hub.sweep(Date.now());
  }
}

/**
 * The backplane of a server on its own (no `--redis`): there is nobody to tell, so it keeps
 * nothing. (A MemoryBackplane would keep a copy of every user for other instances that never come.)
 */
export class SoloBackplane implements Backplane {
  join(): Promise<JoinSnapshot> {
    return Promise.resolve({ users: [], bindings: [] });
  }

  publish(): void {}

  leave(): Promise<void> {
    return Promise.resolve();
  }
}
