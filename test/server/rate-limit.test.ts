import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/rate-limit.js';

describe('per-source rate limiter', () => {
  it('allows a burst, then the sustained rate', () => {
    let now = 0;
    const r = new RateLimiter(10, 5, 100, () => now);
    expect(Array.from({ length: 7 }, () => r.take('a'))).toEqual([true, true, true, true, true, false, false]);
    now += 100; // one token back
    expect(r.take('a')).toBe(true);
    expect(r.take('a')).toBe(false);
  });

  it('keeps sources apart', () => {
    const r = new RateLimiter(1, 1, 100, () => 0);
    expect(r.take('a')).toBe(true);
    expect(r.take('a')).toBe(false);
    expect(r.take('b')).toBe(true);
  });

  it('stays bounded: quiet sources are forgotten, and newcomers wait while all are busy', () => {
    let now = 0;
    const r = new RateLimiter(1, 1, 2, () => now);
    expect(r.take('a')).toBe(true);
    expect(r.take('b')).toBe(true);
    expect(r.take('c')).toBe(false); // both busy: no room
    now += 2000; // a and b refilled: forgotten on the next sweep
    expect(r.take('c')).toBe(true);
  });
});
