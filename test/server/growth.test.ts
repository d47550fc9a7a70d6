import { describe, expect, it } from 'vitest';
import { Growth } from '../../src/server/presence.js';

describe('Growth (how fast the list grows, for presence holds)', () => {
  it('measures growth within the horizon from its anchor', () => {
    const g = new Growth(1000);
    expect(g.note(0, 10)).toBe(0);
    expect(g.note(400, 60)).toBe(50);
    expect(g.note(900, 160)).toBe(150);
    // The sample at 0 is now past the horizon; the one at 400 is not yet, so 0 stays the anchor.
    expect(g.note(1300, 170)).toBe(160);
    // At 1500 the sample at 400 is past it too: measured from there.
    expect(g.note(1500, 180)).toBe(120);
  });

  it('measures growth over a shorter span from the newest sample at or before its start', () => {
    const g = new Growth(1000);
    g.note(0, 0);
    g.note(100, 30);
    g.note(200, 30);
    g.note(300, 60);
    // Over the last 250 ms (from 50): the newest sample at or before 50 is the one at 0.
    expect(g.over(300, 250)).toBe(60);
    // Over the last 100 ms (from 200): a lull between two bursts does not hide the last one.
    expect(g.over(300, 100)).toBe(30);
    // Over a span reaching before every sample: from the oldest.
    expect(g.over(300, 5000)).toBe(60);
    g.note(600, 60);
    expect(g.over(600, 250)).toBe(0);
  });

  it('starts again from a restart', () => {
    const g = new Growth(1000);
    g.note(0, 0);
    g.note(100, 500);
    g.restart(150, 500);
    expect(g.over(150, 250)).toBe(0);
    expect(g.note(200, 520)).toBe(20);
  });

  it('knows no growth before any sample', () => {
    expect(new Growth(1000).over(0, 250)).toBe(0);
  });
});
