import { describe, expect, it } from 'vitest';
import { backoff, initialRtt, updateRtt, type RtoLimits } from '../../src/reliability/rto.js';

const limits: RtoLimits = { initialRtoMs: 500, minRtoMs: 100, maxRtoMs: 5000 };

describe('RTO estimation (RFC 6298)', () => {
  it('starts at the initial RTO with no smoothed RTT', () => {
    expect(initialRtt(limits)).toEqual({ srtt: null, rttvar: null, rto: 500 });
  });

  it('sets SRTT to the first sample and RTTVAR to half of it', () => {
    const s = updateRtt(initialRtt(limits), 200, limits);
    expect(s.srtt).toBe(200);
    expect(s.rttvar).toBe(100);
    expect(s.rto).toBe(200 + 4 * 100);
  });

  it('moves RTTVAR by a quarter of the deviation from the old SRTT, then SRTT by an eighth', () => {
    const first = updateRtt(initialRtt(limits), 200, limits);
    const s = updateRtt(first, 400, limits);
    expect(s.rttvar).toBe(0.75 * 100 + 0.25 * 200);
    expect(s.srtt).toBe(0.875 * 200 + 0.125 * 400);
    expect(s.rto).toBe(225 + 4 * 125);
  });

  it('never goes below minRtoMs however steady the path', () => {
    let s = initialRtt(limits);
    for (let i = 0; i < 50; i++) s = updateRtt(s, 10, limits);
    expect(s.srtt).toBeCloseTo(10);
    expect(s.rto).toBe(100);
  });

  it('never goes above maxRtoMs however slow the path', () => {
    expect(updateRtt(initialRtt(limits), 4000, limits).rto).toBe(5000);
  });

  it('treats a negative sample as zero', () => {
    expect(updateRtt(initialRtt(limits), -5, limits).srtt).toBe(0);
  });

  it('doubles the timer per expiry up to maxRtoMs', () => {
    expect([0, 1, 2, 3, 4, 5, 100].map((n) => backoff(500, n, 5000))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });
});
