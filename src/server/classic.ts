/**
 * The classic protocol's server side: login, logout and the list fetch, as the seed's programs
 * expect them, hardened where that stays compatible (docs/PROTOCOL.md, "Classic hardening").
 */
import { decodeClassic, encodeClassic } from '../protocol/classic/datagram.js';
import { sameEndpoint, type Endpoint } from '../protocol/endpoint.js';
import { nameProblem } from '../protocol/names.js';
import type { ServerContext } from './context.js';

type RefuseReason = 'bad-name' | 'name-taken' | 'server-full';

/** What `Refuse,` carries for each reason (docs/PROTOCOL.md). */
const REFUSE_TEXT: Record<RefuseReason, string> = {
  'bad-name': 'bad name',
  'name-taken': 'name taken',
  'server-full': 'server full',
};

/** Handles every classic datagram that reaches the server. */
export class ClassicHandler {
  readonly #ctx: ServerContext;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Entry point for one datagram that starts like classic text. */
  handle(bytes: Buffer, from: Endpoint): void {
    const decoded = decodeClassic(bytes, this.#ctx.limits.classicMaxDatagramBytes);
    if (!decoded.ok) {
      this.#ctx.drop(decoded.reason, from, bytes.length);
      return;
    }
    const d = decoded.value;
    switch (d.kind) {
      case 'login':
        this.#login(d.name, d.endpoint, from, bytes.length);
        return;
      case 'logout':
        this.#logout(d.name, d.endpoint, from, bytes.length);
        return;
      default:
        // Accept, Refuse and talk are for clients; a server never acts on them.
        this.#ctx.drop('unexpected', from, bytes.length);
    }
  }

  #login(name: string, endpoint: Endpoint, from: Endpoint, size: number): void {
    const ctx = this.#ctx;
    // Return routability, as far as classic allows: we only ever send to the address the
    // datagram came from. The port may differ (the seed sends from a throwaway socket).
    if (endpoint.address !== from.address) {
      ctx.drop('spoofed-source', from, size);
      return;
    }
    const problem = nameProblem(name, ctx.limits.maxNameLength);
    if (problem !== null) {
      this.#refuse(name, endpoint, 'bad-name', problem, size);
      return;
    }
    const holder = ctx.directory.byName(name);
    // A name bound to a qim key is that key's, online or not: classic cannot prove it holds it.
    const owned = ctx.accounts.keyFor(name) !== undefined;
    if (owned || (holder !== undefined && !sameEndpoint(holder.endpoint, endpoint))) {
      this.#refuse(name, endpoint, 'name-taken', 'name already online', size);
      return;
    }
    if (holder !== undefined && holder.instance !== undefined) {
      this.#refuse(name, endpoint, 'name-taken', 'name already online', size); // on another instance
      return;
    }
    if (holder !== undefined) {
      // The same user again from the same endpoint (a retransmitted login): answer, announce nothing.
      this.#accept(endpoint);
      return;
    }
    const previous = ctx.directory.localByEndpoint(endpoint);
    if (previous === undefined && ctx.directory.size >= ctx.limits.maxUsers) {
      this.#refuse(name, endpoint, 'server-full', 'server full', size);
      return;
    }
    if (previous !== undefined) {
      // A new name from an endpoint that is already online: the new login replaces the old one.
      ctx.directory.remove(previous.name, 'replaced');
      ctx.emit('logout', { name: previous.name, endpoint, reason: 'replaced' });
      ctx.announce('logout', previous.name, endpoint);
    }
    ctx.directory.add({ name, endpoint, protocol: 'classic', since: Date.now(), status: 'online' });
    ctx.counters.logins++;
    ctx.emit('login', { name, endpoint, protocol: 'classic' });
    this.#accept(endpoint);
    ctx.announce('login', name, endpoint);
  }

  #logout(name: string, endpoint: Endpoint, from: Endpoint, size: number): void {
    const ctx = this.#ctx;
    const user = ctx.directory.byName(name);
    if (user === undefined || user.instance !== undefined) {
      ctx.drop('not-logged-in', from, size);
      return;
    }
    // Only the user's own host may log them out, and only for the endpoint they logged in with.
    if (user.endpoint.address !== from.address || !sameEndpoint(user.endpoint, endpoint)) {
      ctx.drop('spoofed-source', from, size);
      return;
    }
    ctx.directory.remove(name);
    ctx.counters.logouts++;
    ctx.emit('logout', { name, endpoint: user.endpoint, reason: 'logout' });
    ctx.announce('logout', name, user.endpoint);
  }

  #accept(endpoint: Endpoint): void {
    this.#ctx.expectListFetch(endpoint.address);
    this.#ctx.send(encodeClassic({ kind: 'accept', tcpPort: this.#ctx.tcpPort }), endpoint);
  }

  /**
   * Refuses a login. The wire reason is a short fixed phrase, cut so that the answer is never
   * larger than the login it answers: a forged login cannot turn the server into an amplifier.
   */
  #refuse(name: string, endpoint: Endpoint, reason: RefuseReason, message: string, requestSize: number): void {
    this.#ctx.counters.refused++;
    this.#ctx.emit('refused', { name, endpoint, reason, message });
    let bytes = encodeClassic({ kind: 'refuse', reason: REFUSE_TEXT[reason] });
    if (bytes.length > requestSize) bytes = bytes.subarray(0, requestSize - (requestSize % 2));
    this.#ctx.send(bytes, endpoint);
  }
}
