import { describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../../src/crypto/keys.js';
import { decodeV2 } from '../../src/protocol/v2/messages.js';
import { newServerCounters } from '../../src/server/counters.js';
import { DEFAULT_SERVER_LIMITS } from '../../src/server/options.js';
import { FANOUT_PER_SECOND, KEPT_MIN_ENTRIES, PresenceHub } from '../../src/server/presence.js';
import type { ServerContext } from '../../src/server/context.js';

/**
 * A hub over a directory of `size` users that lists nobody (only the kept batches matter here),
 * with no recipients to send to, though it counts `recipients` of them.
 */
function hub(size: number | { size: number }, recipients = 0): PresenceHub {
  const directory = typeof size === 'number' ? { size } : size;
  const ctx = {
    directory: Object.assign(directory, { classicLocals: () => [], visible: () => [], byName: () => undefined }),
    limits: DEFAULT_SERVER_LIMITS,
    counters: newServerCounters(),
    send: () => undefined,
    emit: () => undefined,
  } as unknown as ServerContext;
  return new PresenceHub(ctx, ed25519KeyPair(), () => [], () => recipients);
}

/** `n` changes in one batch (leaves: no directory needed), published at once; names `pad` longer. */
function batch(h: PresenceHub, n: number, from: number, pad = 0): void {
  for (let i = 0; i < n; i++) h.announce('logout', `u${from + i}`.padEnd(pad, '.'), { address: '192.0.2.1', port: 1 });
  h.flush();
}

function range(datagrams: readonly Buffer[] | null): [number, number] | null {
  if (datagrams === null) return null;
  const versions = datagrams.map((d) => {
    const m = decodeV2(d);
    if (!m.ok || m.value.type !== 'presence') throw new Error('not a presence datagram');
    return [m.value.fromVersion, m.value.toVersion] as const;
  });
  return [versions[0]?.[0] ?? -1, versions.at(-1)?.[1] ?? -1];
}

describe('the batches a hub keeps for catching up', () => {
  it('answers from any batch start it keeps, and forgets the oldest past as many entries as the list', () => {
    // 2,500 listed, batches of 300 (too small to hold for): the keep is 2,500 entries.
    expect(KEPT_MIN_ENTRIES).toBeLessThan(2500);
    const h = hub(2500);
    for (let b = 0; b < 9; b++) batch(h, 300, 1 + b * 300);
    expect(h.version).toBe(2701);
    // 2,700 entries published: the first batch (versions 1 to 301) is forgotten.
    expect(h.catchUp(1)).toBeNull();
    expect(range(h.catchUp(301))).toEqual([301, 2701]);
    expect(range(h.catchUp(2401))).toEqual([2401, 2701]);
    // The answer is the same array while the version stands (framed once for everyone).
    expect(h.catchUp(2401)).toBe(h.catchUp(2401));
    // Not a batch's start, the version published, nothing, or beyond: a snapshot instead.
    for (const v of [302, 2701, 0, 5000]) expect(h.catchUp(v)).toBeNull();
  });

  it('prefers a snapshot when the batches since are as long as the list', () => {
    const h = hub(500);
    batch(h, 60, 1);
    batch(h, 60, 61);
    expect(range(h.catchUp(61))).toEqual([61, 121]);
    for (let b = 2; b < 9; b++) batch(h, 60, 1 + b * 60);
    // 480 changes since version 61 for a list of 500: still the batches; 540 since 1 would not be.
    expect(range(h.catchUp(61))).toEqual([61, 541]);
    expect(h.catchUp(1)).toBeNull();
  });
});

describe('the fan-out budget', () => {
  it('holds for a growing list whose batch would cost more than the budget in sends, however small a part of the list', () => {
    // 20,000 online: a batch window is 1,020 ms, and a batch of six datagrams to each recipient
    // is 117,600 sends a second.
    const directory = { size: 20_000 };
    const h = hub(directory, 20_000);
    try {
      expect(FANOUT_PER_SECOND).toBe(100_000);
      // One datagram's worth, the list growing by 150: sent (19,600 a second).
      directory.size += 150;
      batch(h, 30, 1);
      expect(h.holding).toBe(false);
      // 250 entries of 32-byte names (eight datagrams) while it grows by 250 more: a hold, though
      // the batch is under an eighth of the list and the growth under half of it.
      directory.size += 250;
      batch(h, 250, 31, 32);
      expect(h.holding).toBe(true);
      // The batch was kept, not sent: a client at version 31 catches up with it.
      expect(range(h.catchUp(31))).toEqual([31, 281]);
    } finally {
      h.close();
    }
  });

  it('does not hold for the same batch when the list is not growing (churn)', () => {
    const h = hub(20_000, 20_000);
    try {
      batch(h, 1, 1); // the size the list is measured from
      batch(h, 250, 2, 32);
      expect(h.holding).toBe(false);
    } finally {
      h.close();
    }
  });
});
