/**
 * Reading PRESENCE datagrams without decoding them into objects: the load generator sees millions
 * of them in a big storm, and only needs each entry's operation and name. Layout in
 * docs/PROTOCOL.md, "Presence". The load generator does not check the server's signature (the
 * server makes it all the same; the harness test runs the real client too).
 */

/** The header fields of a PRESENCE datagram. */
export interface PresenceHeader {
  fromVersion: number;
  toVersion: number;
  part: number;
  parts: number;
}

/** Reads the header into `out`; false when this is not a PRESENCE long enough to hold one. */
export function presenceHeader(bytes: Buffer, out: PresenceHeader): boolean {
  if (bytes.length < HEADER + SIGNATURE || bytes[0] !== 0x02 || bytes[1] !== 0x09) return false;
  out.fromVersion = bytes.readUInt32BE(10);
  out.toVersion = bytes.readUInt32BE(14);
  out.part = bytes.readUInt16BE(18);
  out.parts = bytes.readUInt16BE(20);
  return out.part < out.parts;
}

/** Entries in one PRESENCE datagram. */
export function presenceCount(bytes: Buffer): number {
  return bytes.readUInt16BE(22);
}

/**
 * Calls `entry` with each entry's operation (true: upsert) and the offset and length of its name.
 * An upsert carries its endpoint, then a private endpoint or a zero byte (the same one).
 */
export function scanPresence(bytes: Buffer, entry: (upsert: boolean, nameAt: number, nameLength: number) => void): boolean {
  const count = presenceCount(bytes);
  let at = HEADER;
  const end = bytes.length - SIGNATURE;
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return false;
    const op = bytes[at] as number;
    const len = bytes[at + 1] as number;
    const nameAt = at + 2;
    at = nameAt + len;
    if (op === 1) {
      at += 18; // protocol, status, fingerprint[16]
      for (let e = 0; e < 2; e++) {
        const family = bytes[at];
        if (e === 1 && family === 0) {
          at += 1;
          break;
        }
        if (family !== 4 && family !== 6) return false;
        at += 1 + (family === 6 ? 16 : 4) + 2;
      }
    } else if (op !== 2) return false;
    if (at > end) return false;
    entry(op === 1, nameAt, len);
  }
  return at === end;
}

const HEADER = 24;
const SIGNATURE = 64;
