/**
 * One big deterministic run: 10,000 messages each way through a network losing 20% of datagrams
 * (acks too), duplicating 10% and reordering 10%, on a virtual clock. The seed is printed; set
 * QIM_SIM_SEED to replay or vary it.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from './simulated-network.js';

const SEED = Number(process.env['QIM_SIM_SEED'] ?? 20_260_101);
const MESSAGES = 10_000;

describe('reliable delivery at scale', () => {
  it('carries 10,000 messages each way through 20% loss, 10% duplication and reordering, once and in order', () => {
    console.log(`reliability scenario seed: ${SEED} (replay with QIM_SIM_SEED=${SEED})`);
    const started = performance.now();
    const r = simulate({
      seed: SEED,
      messages: [MESSAGES, MESSAGES],
      // A message every 4 ms each way, about as fast as the window carries at this loss rate.
      sendIntervalMs: 4,
      link: { loss: 0.2, duplicate: 0.1, reorder: 0.1, delayMs: 20, jitterMs: 10, reorderDelayMs: 40 },
      sender: { deadlineMs: Infinity, maxQueued: MESSAGES },
    });
    const elapsedMs = performance.now() - started;
    console.log(
      `virtual ${Math.round(r.endMs)} ms, real ${Math.round(elapsedMs)} ms, ${r.datagrams} datagrams, ` +
        `${r.ab.sender.stats.retransmits + r.ba.sender.stats.retransmits} retransmits`,
    );

    const expected = Array.from({ length: MESSAGES }, (_, i) => i);
    for (const d of [r.ab, r.ba]) {
      expect(d.received).toEqual(expected);
      expect(d.delivered.length).toBe(MESSAGES);
      expect(new Set(d.delivered).size).toBe(MESSAGES);
      expect(d.failed).toEqual([]);
      // The network really was bad: losses were repaired, copies and reorderings absorbed.
      expect(d.sender.stats.retransmits).toBeGreaterThan(MESSAGES * 0.2);
      expect(d.receiver.stats.duplicates).toBeGreaterThan(0);
      expect(d.receiver.stats.outOfOrder).toBeGreaterThan(0);
    }
    expect(elapsedMs).toBeLessThan(10_000);
  });
});
