/**
 * Reading PRESENCE datagrams without decoding them into objects: the load generator sees millions
 * of them in a big storm, and only needs each entry's operation and name. Layout in
 * docs/PROTOCOL.md, "Presence". Returns false when the bytes do not parse.
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
  if (bytes.length < 32 || bytes[0] !== 0x02 || bytes[1] !== 0x09) return false;
  out.fromVersion = bytes.readUInt32BE(2);
  out.toVersion = bytes.readUInt32BE(6);
  out.part = bytes.readUInt16BE(10);
  out.parts = bytes.readUInt16BE(12);
  return out.part < out.parts;
}

/**
 * Calls `entry` with each entry's operation (true: upsert) and the offset and length of its name.
 * An upsert carries one endpoint, or two (the observed and the private one) in the NAT-traversal
 * revision of the protocol: whichever layout fills the datagram exactly is the one used.
 */
export function scanPresence(bytes: Buffer, entry: (upsert: boolean, nameAt: number, nameLength: number) => void): boolean {
  for (const endpoints of [1, 2]) {
    if (walk(bytes, endpoints, null)) return walk(bytes, endpoints, entry);
  }
  return false;
}

function walk(bytes: Buffer, endpoints: number, entry: ((upsert: boolean, nameAt: number, nameLength: number) => void) | null): boolean {
  const count = bytes.readUInt16BE(14);
  let at = 16;
  const end = bytes.length - 16;
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return false;
    const op = bytes[at] as number;
    const len = bytes[at + 1] as number;
    const nameAt = at + 2;
    at = nameAt + len;
    if (op === 1) {
      at += 34; // protocol, status, identity[32]
      for (let e = 0; e < endpoints; e++) {
        const family = bytes[at];
        if (family !== 4 && family !== 6) return false;
        at += 1 + (family === 6 ? 16 : 4) + 2;
      }
    } else if (op !== 2) return false;
    if (at > end) return false;
    entry?.(op === 1, nameAt, len);
  }
  return at === end;
}
