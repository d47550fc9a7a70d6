/**
 * The backplane: what several server instances share so that they serve one directory. Each
 * instance keeps its own users (its sockets, sessions and leases) and tells the backplane about
 * them; the backplane tells every other instance, in order and once, and removes the users of an
 * instance that stops renewing its lease (a crash, a kill -9), telling the survivors.
 *
 * Two implementations pass one compliance suite (test/server/backplane.test.ts):
 * `MemoryBackplane` (one process; what a lone server uses) and `RedisBackplane` (`--redis`).
 */
import type { Endpoint } from '../../protocol/endpoint.js';
import type { Status } from '../../protocol/v2/messages.js';
import type { UserProtocol } from '../directory.js';

/** A user as the backplane carries them: enough to list them anywhere. */
export interface SharedUser {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly privateEndpoint?: Endpoint;
  readonly protocol: UserProtocol;
  readonly status: Status;
  /** The Ed25519 identity key (qim users). */
  readonly identity?: Buffer;
  readonly since: number;
  /** The instance that serves the user. */
  readonly instance: string;
}

/** Why a user left: as the instance reported it, or removed for their instance's silence. */
export type LeaveReason = 'logout' | 'replaced' | 'expired' | 'instance-lost';

/** One change, as every instance sees it. */
export type ClusterChange =
  | { readonly op: 'upsert'; readonly user: SharedUser }
  | { readonly op: 'remove'; readonly name: string; readonly instance: string; readonly reason: LeaveReason }
  /** A name was bound to a key (trust on first use), so every instance refuses other keys. */
  | { readonly op: 'bind'; readonly name: string; readonly key: Buffer };

/** What an instance gets when it joins: everyone the other instances serve, and every binding. */
export interface JoinSnapshot {
  readonly users: SharedUser[];
  readonly bindings: [string, Buffer][];
}

export interface Backplane {
  /**
   * Registers `instance` with a lease and starts delivering the changes other instances make to
   * `onChange`, in order, each once. Resolves with the state as of joining. `mine` lists this
   * instance's users: a backplane that lost its connection publishes them again when it is back
   * (the others may have removed them meanwhile).
   */
  join(instance: string, onChange: (change: ClusterChange) => void, mine?: () => SharedUser[]): Promise<JoinSnapshot>;
  /** Publishes a change of one of our own users (or a binding); ordered after earlier ones. */
  publish(change: ClusterChange): void;
  /** Removes our users and our registration, and stops. */
  leave(): Promise<void>;
}

/** Timing of a backplane's instance leases. */
export interface BackplaneTiming {
  /** An instance silent this long is lost and its users removed. */
  readonly instanceLeaseMs: number;
  /** How often an instance renews its lease and looks for lost ones. */
  readonly renewMs: number;
}

export const DEFAULT_BACKPLANE_TIMING: BackplaneTiming = Object.freeze({ instanceLeaseMs: 3_000, renewMs: 1_000 });
