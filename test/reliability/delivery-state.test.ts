import { describe, expect, it } from 'vitest';
import { DeliveryTracker, canTransition, type DeliveryState } from '../../src/reliability/delivery-state.js';

const STATES: DeliveryState[] = ['sending', 'delivered', 'failed'];

describe('delivery state', () => {
  it('allows only sending to delivered and sending to failed', () => {
    const allowed = STATES.flatMap((from) => STATES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(allowed).toEqual(['sending->delivered', 'sending->failed']);
  });

  it('starts a message as sending', () => {
    const t = new DeliveryTracker();
    expect(t.start(1)).toBe(true);
    expect(t.state(1)).toBe('sending');
  });

  it('does not restart a message already tracked', () => {
    const t = new DeliveryTracker();
    t.start(1);
    t.transition(1, 'delivered');
    expect(t.start(1)).toBe(false);
    expect(t.state(1)).toBe('delivered');
  });

  it('marks a message delivered once and then refuses to fail it', () => {
    const t = new DeliveryTracker();
    t.start(1);
    expect(t.transition(1, 'delivered')).toBe(true);
    expect(t.transition(1, 'failed')).toBe(false);
    expect(t.transition(1, 'delivered')).toBe(false);
    expect(t.state(1)).toBe('delivered');
  });

  it('marks a message failed and then refuses to deliver it', () => {
    const t = new DeliveryTracker();
    t.start(1);
    expect(t.transition(1, 'failed')).toBe(true);
    expect(t.transition(1, 'delivered')).toBe(false);
    expect(t.transition(1, 'sending')).toBe(false);
    expect(t.state(1)).toBe('failed');
  });

  it('ignores transitions of messages it does not track', () => {
    const t = new DeliveryTracker();
    expect(t.transition(7, 'delivered')).toBe(false);
    expect(t.state(7)).toBeUndefined();
  });

  it('applies sender reports and returns what changed', () => {
    const t = new DeliveryTracker<string>();
    for (const id of ['a', 'b', 'c']) t.start(id);
    expect(t.apply({ delivered: ['a', 'x'], failed: ['b'] })).toEqual(['a', 'b']);
    expect(t.apply({ delivered: ['b'] })).toEqual([]);
    expect(t.counts()).toEqual({ sending: 1, delivered: 1, failed: 1 });
  });

  it('forgets a message so memory stays bounded', () => {
    const t = new DeliveryTracker();
    t.start(1);
    t.forget(1);
    expect(t.size).toBe(0);
    expect(t.state(1)).toBeUndefined();
  });
});
