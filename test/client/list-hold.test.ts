import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ListHold } from '../../src/client/list-hold.js';

describe('ListHold', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fetches within the spread once the hold settles, not after its wait', () => {
    const fetch = vi.fn(() => true);
    const hold = new ListHold(fetch);
    expect(hold.take(10, 5000, 100)).toBe(true);
    expect(hold.take(12, 0, 100)).toBe(true);
    vi.advanceTimersByTime(100);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(hold.newest).toBe(12);
  });

  it('ignores a notice older than one taken, or no newer than a settle (read late, from TCP)', () => {
    const fetch = vi.fn(() => true);
    const hold = new ListHold(fetch);
    hold.take(10, 5000, 0);
    hold.take(12, 0, 0);
    vi.advanceTimersByTime(1);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(hold.active).toBe(false);
    expect(hold.take(10, 5000, 0)).toBe(false);
    expect(hold.take(12, 5000, 0)).toBe(false);
    expect(hold.active).toBe(false);
    // A newer hold is a new storm.
    expect(hold.take(13, 5000, 0)).toBe(true);
    expect(hold.active).toBe(true);
  });

  it('takes a hold at the same version again after its wait ran out (the server still holds)', () => {
    const fetch = vi.fn(() => true);
    const hold = new ListHold(fetch);
    hold.take(10, 1000, 0);
    vi.advanceTimersByTime(1001);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(hold.take(10, 1000, 0)).toBe(true);
  });

  it('a delta that does not follow on settles the hold, and later notices of its version are stale', () => {
    const fetch = vi.fn(() => true);
    const hold = new ListHold(fetch);
    hold.take(10, 5000, 0);
    hold.settle();
    vi.advanceTimersByTime(1);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(hold.take(10, 5000, 0)).toBe(false);
  });

  it('fetches again when a hold ended while a fetch was on its way that did not bring its list', () => {
    let inFlight = true;
    const fetch = vi.fn(() => !inFlight);
    const hold = new ListHold(fetch);
    hold.take(12, 0, 0);
    vi.advanceTimersByTime(1);
    expect(fetch).toHaveBeenCalledTimes(1); // turned down: one is on its way
    inFlight = false;
    hold.fetchEnded(-1); // it brought only a stale LIST-HOLD
    expect(fetch).toHaveBeenCalledTimes(2);
    hold.fetchEnded(12); // nothing owed any more
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('owes nothing when the fetch on its way brought the list, or fell back to datagrams', () => {
    const fetch = vi.fn(() => false);
    const hold = new ListHold(fetch);
    hold.take(12, 0, 0);
    vi.advanceTimersByTime(1);
    hold.fetchEnded(12);
    hold.take(13, 0, 0);
    vi.advanceTimersByTime(1);
    hold.fetchEnded(null);
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('forgets the versions seen on reset (a new session counts from 1 again)', () => {
    const hold = new ListHold(() => true);
    hold.take(10, 0, 0);
    hold.reset();
    expect(hold.newest).toBe(-1);
    expect(hold.take(3, 5000, 0)).toBe(true);
  });
});
