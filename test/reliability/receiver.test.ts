import { describe, expect, it } from 'vitest';
import { QimError } from '../../src/errors.js';
import { MAX_SEQ, ackCovers } from '../../src/reliability/ack.js';
import { ReliableReceiver } from '../../src/reliability/receiver.js';

const msg = (n: number) => new Uint8Array([n]);
const values = (ps: Uint8Array[]) => ps.map((p) => p[0]);

describe('reliable receiver: ordering', () => {
  it('delivers in-order messages at once', () => {
    const r = new ReliableReceiver();
    expect(values(r.receive(1, msg(1)).deliver)).toEqual([1]);
    expect(values(r.receive(2, msg(2)).deliver)).toEqual([2]);
    expect(r.next).toBe(3);
  });

  it('buffers out-of-order messages and delivers them when the gap fills', () => {
    const r = new ReliableReceiver();
    expect(r.receive(3, msg(3)).deliver).toEqual([]);
    expect(r.receive(2, msg(2)).deliver).toEqual([]);
    expect(values(r.receive(1, msg(1)).deliver)).toEqual([1, 2, 3]);
    expect(r.stats).toMatchObject({ received: 3, delivered: 3, outOfOrder: 2, buffered: 0 });
  });

  it('reports a duplicate of a delivered message and delivers nothing', () => {
    const r = new ReliableReceiver();
    r.receive(1, msg(1));
    expect(r.receive(1, msg(1))).toEqual({ deliver: [], duplicate: true, tooFar: false });
    expect(r.stats.duplicates).toBe(1);
  });

  it('reports a duplicate of a buffered message and keeps the first copy', () => {
    const r = new ReliableReceiver();
    r.receive(2, msg(2));
    expect(r.receive(2, msg(99)).duplicate).toBe(true);
    expect(values(r.receive(1, msg(1)).deliver)).toEqual([1, 2]);
  });

  it('buffers a message exactly maxBuffered ahead of the next expected', () => {
    const r = new ReliableReceiver({ maxBuffered: 4 });
    expect(r.receive(5, msg(5)).tooFar).toBe(false);
    expect(r.stats.buffered).toBe(1);
  });

  it('drops a message further than maxBuffered ahead and reports it too far', () => {
    const r = new ReliableReceiver({ maxBuffered: 4 });
    expect(r.receive(6, msg(6))).toEqual({ deliver: [], duplicate: false, tooFar: true });
    expect(r.stats).toMatchObject({ tooFar: 1, buffered: 0 });
    expect(r.ack()).toEqual({ cumulative: 0, ranges: [] });
  });

  it('ignores impossible seqs without throwing', () => {
    const r = new ReliableReceiver();
    for (const seq of [0, -1, 1.5, MAX_SEQ + 1, NaN]) {
      expect(r.receive(seq, msg(0))).toEqual({ deliver: [], duplicate: false, tooFar: false });
    }
    expect(r.stats).toMatchObject({ invalid: 5, received: 0 });
  });

  it('rejects impossible options with ERR_BAD_OPTION', () => {
    expect(() => new ReliableReceiver({ maxBuffered: 0 })).toThrow(QimError);
    expect(() => new ReliableReceiver({ maxAckRanges: 1.5 })).toThrow(QimError);
  });
});

describe('reliable receiver: acks', () => {
  it('acks nothing before the first message', () => {
    expect(new ReliableReceiver().ack()).toEqual({ cumulative: 0, ranges: [] });
  });

  it('acks the cumulative point and the runs above it, lowest first', () => {
    const r = new ReliableReceiver();
    for (const seq of [1, 2, 4, 5, 9, 7]) r.receive(seq, msg(seq));
    const a = r.ack();
    expect(a).toEqual({ cumulative: 2, ranges: [[4, 5], [7, 7], [9, 9]] });
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].filter((s) => ackCovers(a, s))).toEqual([1, 2, 4, 5, 7, 9]);
  });

  it('lists at most maxAckRanges runs, keeping the lowest', () => {
    const r = new ReliableReceiver({ maxAckRanges: 2 });
    for (const seq of [3, 5, 7, 9]) r.receive(seq, msg(seq));
    expect(r.ack()).toEqual({ cumulative: 0, ranges: [[3, 3], [5, 5]] });
  });
});

describe('reliable receiver: skipping given-up messages', () => {
  it('skips missing seqs below a data message floor and delivers buffered ones in order', () => {
    const r = new ReliableReceiver();
    r.receive(2, msg(2));
    r.receive(4, msg(4));
    // The sender gave up 1 and 3: message 5 says everything below 5 is resolved.
    expect(values(r.receive(5, msg(5), 5).deliver)).toEqual([2, 4, 5]);
    expect(r.stats).toMatchObject({ skipped: 2, delivered: 3 });
    expect(r.ack()).toEqual({ cumulative: 5, ranges: [] });
  });

  it('takes a skip notice and continues delivery from its floor', () => {
    const r = new ReliableReceiver();
    r.receive(2, msg(2));
    r.receive(3, msg(3));
    expect(values(r.skipTo(2).deliver)).toEqual([2, 3]);
    expect(r.next).toBe(4);
    expect(r.stats.skipped).toBe(1);
  });

  it('ignores a floor at or below what it already has', () => {
    const r = new ReliableReceiver();
    r.receive(1, msg(1));
    expect(r.skipTo(1).deliver).toEqual([]);
    expect(r.next).toBe(2);
  });

  it('caps a data message floor at the message own seq', () => {
    const r = new ReliableReceiver();
    expect(values(r.receive(3, msg(3), 10).deliver)).toEqual([3]);
    expect(r.next).toBe(4);
  });

  it('skips a huge gap without walking it', () => {
    const r = new ReliableReceiver();
    r.receive(5, msg(5));
    expect(values(r.skipTo(MAX_SEQ).deliver)).toEqual([5]);
    expect(r.next).toBe(MAX_SEQ);
    expect(r.skipTo(MAX_SEQ + 2).deliver).toEqual([]);
    expect(r.stats.invalid).toBe(1);
  });

  it('reports a message below a skip as a duplicate', () => {
    const r = new ReliableReceiver();
    r.skipTo(3);
    expect(r.receive(2, msg(2)).duplicate).toBe(true);
    expect(values(r.receive(3, msg(3)).deliver)).toEqual([3]);
  });
});
