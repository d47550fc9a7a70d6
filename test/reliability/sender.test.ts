import { describe, expect, it } from 'vitest';
import { QimError } from '../../src/errors.js';
import type { Ack } from '../../src/reliability/ack.js';
import { ReliabilityError } from '../../src/reliability/errors.js';
import { ReliableSender } from '../../src/reliability/sender.js';
import type { SenderOptions } from '../../src/reliability/options.js';

const msg = (n: number) => new Uint8Array([n]);
const ack = (cumulative: number, ranges: Array<[number, number]> = []): Ack => ({ cumulative, ranges });
const sent = (s: ReliableSender, now: number) => s.poll(now).transmit.map((t) => t.seq);

/** A sender with `n` messages sent at time 0 and transmitted once. */
function withInFlight(n: number, options: Partial<SenderOptions> = {}): ReliableSender {
  const s = new ReliableSender(options);
  for (let i = 1; i <= n; i++) s.send(msg(i), 0);
  s.poll(0);
  return s;
}

describe('reliable sender: transmission', () => {
  it('numbers messages from 1 and transmits them at the next poll', () => {
    const s = new ReliableSender();
    expect(s.send(msg(1), 0)).toBe(1);
    expect(s.send(msg(2), 0)).toBe(2);
    const { transmit } = s.poll(0);
    expect(transmit.map(({ seq, attempt, floor }) => ({ seq, attempt, floor }))).toEqual([
      { seq: 1, attempt: 1, floor: 1 },
      { seq: 2, attempt: 1, floor: 1 },
    ]);
    expect(transmit[0]?.payload).toEqual(msg(1));
    expect(s.stats.sent).toBe(2);
  });

  it('does not transmit again before the timer expires', () => {
    const s = withInFlight(1);
    expect(sent(s, 499)).toEqual([]);
  });

  it('retransmits after the initial RTO of 500 ms when no ack comes', () => {
    const s = withInFlight(1);
    expect(s.nextWakeup()).toBe(500);
    const { transmit } = s.poll(500);
    expect(transmit.map((t) => [t.seq, t.attempt])).toEqual([[1, 2]]);
    expect(s.stats.retransmits).toBe(1);
    expect(s.stats.timeouts).toBe(1);
  });

  it('backs off exponentially per message, capped at maxRtoMs', () => {
    const s = withInFlight(1, { deadlineMs: Infinity });
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = s.nextWakeup();
      if (t === null) throw new Error('no wakeup');
      times.push(t);
      s.poll(t);
    }
    // Timers of 500, 1000, 2000, 4000, then 5000 (the cap) twice.
    expect(times).toEqual([500, 1500, 3500, 7500, 12500, 17500]);
  });

  it('backs off one message without slowing a newer one', () => {
    const s = withInFlight(1, { deadlineMs: Infinity });
    s.poll(500); // message 1 now waits 1000 ms
    s.send(msg(2), 600);
    s.poll(600);
    expect(s.nextWakeup()).toBe(1100); // message 2's own 500 ms timer
    expect(sent(s, 1100)).toEqual([2]);
    expect(sent(s, 1500)).toEqual([1]);
  });
});

describe('reliable sender: acknowledgements and RTT', () => {
  it('reports a message delivered when acked, once', () => {
    const s = withInFlight(2);
    expect(s.onAck(ack(1), 50).delivered).toEqual([1]);
    expect(s.onAck(ack(1), 60).delivered).toEqual([]);
    expect(s.onAck(ack(2), 70).delivered).toEqual([2]);
    expect(s.stats.delivered).toBe(2);
    expect(s.idle).toBe(true);
    expect(s.nextWakeup()).toBeNull();
  });

  it('delivers messages above a hole from the ack ranges', () => {
    const s = withInFlight(5);
    expect(s.onAck(ack(0, [[2, 3], [5, 5]]), 40).delivered).toEqual([2, 3, 5]);
    expect(s.stats.inFlight).toBe(2);
    expect(s.onAck(ack(5), 50).delivered).toEqual([1, 4]);
  });

  it('takes an RTT sample from a message transmitted once', () => {
    const s = withInFlight(1);
    s.onAck(ack(1), 80);
    expect(s.stats.srtt).toBe(80);
    expect(s.stats.rttvar).toBe(40);
    expect(s.stats.rto).toBe(240);
  });

  it('uses the measured RTO for the next message', () => {
    const s = withInFlight(1);
    s.onAck(ack(1), 80);
    s.send(msg(2), 100);
    s.poll(100);
    expect(s.nextWakeup()).toBe(340);
  });

  it('takes no RTT sample from a retransmitted message (Karn)', () => {
    const s = withInFlight(1);
    s.poll(500);
    s.onAck(ack(1), 520);
    expect(s.stats.srtt).toBeNull();
    expect(s.stats.rto).toBe(500);
  });

  it('samples the newly acked message transmitted last', () => {
    const s = withInFlight(1);
    s.send(msg(2), 30);
    s.poll(30);
    s.onAck(ack(2), 100); // message 2 took 70 ms; message 1's 100 ms may include waiting
    expect(s.stats.srtt).toBe(70);
  });

  it('ignores acks of seqs never sent and counts them', () => {
    const s = withInFlight(2);
    expect(s.onAck(ack(0, [[7, 9]]), 10).delivered).toEqual([]);
    expect(s.onAck(ack(1_000), 10).delivered).toEqual([1, 2]);
    expect(s.stats.badAcks).toBe(2);
  });

  it('ignores malformed acks without throwing', () => {
    const s = withInFlight(2);
    expect(s.onAck(ack(-1), 10).delivered).toEqual([]);
    expect(s.onAck(ack(0.5), 10).delivered).toEqual([]);
    expect(s.onAck(ack(0, [[3, 1]]), 10).delivered).toEqual([]);
    expect(s.onAck({ cumulative: 0, ranges: [[0, 2 ** 40]] }, 10).delivered).toEqual([1, 2]);
    expect(s.stats.badAcks).toBe(4);
  });

  it('does not accept an ack for a message still waiting in the queue', () => {
    const s = new ReliableSender({ maxInFlight: 1 });
    s.send(msg(1), 0);
    s.send(msg(2), 0);
    s.poll(0);
    expect(s.onAck(ack(0, [[2, 2]]), 10).delivered).toEqual([]);
  });
});

describe('reliable sender: fast retransmit', () => {
  it('resends a message before its timer once three later seqs are acked past it', () => {
    const s = withInFlight(5);
    s.onAck(ack(0, [[2, 3]]), 40);
    expect(sent(s, 40)).toEqual([]);
    s.onAck(ack(0, [[2, 4]]), 41);
    const { transmit } = s.poll(41);
    expect(transmit.map((t) => [t.seq, t.attempt])).toEqual([[1, 2]]);
    expect(s.stats.fastRetransmits).toBe(1);
    expect(s.stats.timeouts).toBe(0);
  });

  it('does not resend a message only two later seqs have passed', () => {
    const s = withInFlight(3);
    s.onAck(ack(0, [[2, 3]]), 40);
    expect(sent(s, 40)).toEqual([]);
  });

  it('counts only seqs sent after the hole, so it does not resend on every later ack', () => {
    const s = withInFlight(8);
    s.onAck(ack(0, [[2, 4]]), 40);
    expect(sent(s, 40)).toEqual([1]);
    // Seqs 5 to 7 were sent before the retransmission: they say nothing about its fate.
    s.onAck(ack(0, [[2, 7]]), 45);
    expect(sent(s, 45)).toEqual([]);
    // Three messages sent after the retransmission overtake it: it is presumed lost again.
    for (let i = 9; i <= 11; i++) s.send(msg(i), 50);
    s.poll(50);
    s.onAck(ack(0, [[2, 11]]), 90);
    expect(sent(s, 90)).toEqual([1]);
    expect(s.stats.fastRetransmits).toBe(2);
  });

  it('does not back off the timer on a fast retransmit', () => {
    const s = withInFlight(4);
    s.onAck(ack(0, [[2, 4]]), 40);
    s.poll(40); // fast retransmit of 1; the RTO is now 120 from the 40 ms sample
    expect(s.nextWakeup()).toBe(40 + s.stats.rto);
  });
});

describe('reliable sender: window and queue', () => {
  it('keeps at most maxInFlight messages on the wire and queues the rest', () => {
    const s = new ReliableSender({ maxInFlight: 2 });
    for (let i = 1; i <= 4; i++) s.send(msg(i), 0);
    expect(sent(s, 0)).toEqual([1, 2]);
    expect(s.stats).toMatchObject({ inFlight: 2, queued: 2 });
  });

  it('lets queued messages in as acks free the window', () => {
    const s = new ReliableSender({ maxInFlight: 2 });
    for (let i = 1; i <= 4; i++) s.send(msg(i), 0);
    s.poll(0);
    s.onAck(ack(1), 30);
    expect(sent(s, 30)).toEqual([3]);
  });

  it('measures the window as a span of seqs, so a hole holds it shut', () => {
    const s = new ReliableSender({ maxInFlight: 3 });
    for (let i = 1; i <= 5; i++) s.send(msg(i), 0);
    s.poll(0);
    s.onAck(ack(0, [[2, 3]]), 30); // 1 is missing: the receiver could not buffer past 3
    expect(sent(s, 30)).toEqual([]);
    s.onAck(ack(3), 40);
    expect(sent(s, 40)).toEqual([4, 5]);
  });

  it('refuses a message past maxQueued with ERR_QUEUE_FULL and uses no seq for it', () => {
    const s = new ReliableSender({ maxInFlight: 1, maxQueued: 2 });
    s.send(msg(1), 0);
    s.send(msg(2), 0);
    s.send(msg(3), 0);
    let error: unknown;
    try {
      s.send(msg(4), 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReliabilityError);
    expect((error as ReliabilityError).code).toBe('ERR_QUEUE_FULL');
    s.poll(0);
    s.onAck(ack(1), 10);
    expect(s.send(msg(4), 10)).toBe(4);
  });

  it('rejects impossible options with ERR_BAD_OPTION', () => {
    for (const bad of [{ maxInFlight: 0 }, { maxQueued: -1 }, { deadlineMs: 0 }, { minRtoMs: 6000 }, { initialRtoMs: NaN }]) {
      expect(() => new ReliableSender(bad)).toThrow(QimError);
    }
  });
});

describe('reliable sender: deadlines', () => {
  it('gives up an unacknowledged message at its deadline and reports it once', () => {
    const s = withInFlight(1, { deadlineMs: 1000 });
    expect(s.poll(999).failed).toEqual([]);
    const r = s.poll(1000);
    expect(r.failed).toEqual([1]);
    expect(r.transmit).toEqual([]);
    expect(s.poll(2000).failed).toEqual([]);
    expect(s.stats.failed).toBe(1);
  });

  it('wakes up for a deadline that comes before the next retransmission', () => {
    const s = withInFlight(1, { deadlineMs: 300 });
    expect(s.nextWakeup()).toBe(300);
  });

  it('never reports a given-up message as delivered when a late ack arrives', () => {
    const s = withInFlight(1, { deadlineMs: 1000 });
    s.poll(1000);
    expect(s.onAck(ack(1), 1010).delivered).toEqual([]);
    expect(s.stats.delivered).toBe(0);
  });

  it('gives up queued messages that never got into the window', () => {
    const s = new ReliableSender({ maxInFlight: 1, deadlineMs: 1000 });
    s.send(msg(1), 0);
    s.send(msg(2), 500);
    s.poll(500);
    expect(s.poll(1000).failed).toEqual([1]);
    expect(s.poll(1500).failed).toEqual([2]);
    expect(s.stats.sent).toBe(2);
  });

  it('counts the deadline from send, time in the queue included', () => {
    const s = new ReliableSender({ maxInFlight: 1, deadlineMs: 1000 });
    s.send(msg(1), 0);
    s.send(msg(2), 0);
    s.poll(0);
    s.onAck(ack(1), 900);
    expect(sent(s, 900)).toEqual([2]);
    expect(s.poll(1000).failed).toEqual([2]);
  });

  it('carries the floor past a given-up message on later data', () => {
    const s = withInFlight(1, { deadlineMs: 1000 });
    s.poll(1000);
    s.send(msg(2), 1100);
    expect(s.poll(1100).transmit.map((t) => [t.seq, t.floor])).toEqual([[2, 2]]);
  });

  it('asks for a skip notice when a message fails, retried until the peer acks past it', () => {
    const s = withInFlight(3, { deadlineMs: 1000 });
    s.onAck(ack(0, [[2, 3]]), 40); // 2 and 3 wait in the peer's buffer behind 1
    const failing = s.poll(1000);
    expect(failing.failed).toEqual([1]);
    expect(failing.skipTo).toBe(4);
    expect(s.idle).toBe(false);
    const retry = s.nextWakeup();
    expect(retry).toBe(1000 + s.stats.rto);
    expect(s.poll(retry ?? 0).skipTo).toBe(4);
    s.onAck(ack(3), 1700);
    expect(s.idle).toBe(true);
    expect(s.nextWakeup()).toBeNull();
    expect(s.stats.skipNotices).toBe(2);
  });
});

describe('reliable sender: clock', () => {
  it('treats a clock stepping back as standing still', () => {
    const s = withInFlight(1);
    s.poll(500); // retransmission; next at 1500
    expect(s.poll(100).transmit).toEqual([]);
    expect(s.nextWakeup()).toBe(1500);
  });

  it('reports nothing to do when nothing was sent', () => {
    const s = new ReliableSender();
    expect(s.nextWakeup()).toBeNull();
    expect(s.poll(0)).toEqual({ transmit: [], failed: [], skipTo: null });
    expect(s.idle).toBe(true);
  });
});
