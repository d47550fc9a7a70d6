/**
 * The qim protocol (v2) datagrams: layouts in docs/PROTOCOL.md, "qim protocol (v2)". Every
 * datagram starts with the version byte 0x02 and a type byte; every field has an explicit length;
 * every datagram is at most {@link MAX_DATAGRAM} bytes. Pure, and decoding never throws.
 */
import { sameEndpoint, type Endpoint } from '../endpoint.js';
import type { Decoded } from '../result.js';
import { ByteReader, ByteWriter } from './bytes.js';

/** The first byte of every qim-protocol datagram (never a UTF-16LE letter, so never classic). */
export const VERSION = 0x02;

/** No datagram is larger: it fits the IPv6 minimum MTU with room for tunnels. */
export const MAX_DATAGRAM = 1200;

/** A HELLO is padded to this size, so the COOKIE answering it is never larger (no amplification). */
export const HELLO_BYTES = 64;

/** Longest name on the wire, in UTF-8 bytes (32 characters of up to three bytes). */
export const MAX_NAME_BYTES = 96;

/** Presence of a user. `invisible` users are listed to nobody but themselves. */
export type Status = 'online' | 'away' | 'busy' | 'invisible';
const STATUSES: readonly Status[] = ['online', 'away', 'busy', 'invisible'];

/** Message type codes. */
export const Type = {
  Hello: 0x01,
  Cookie: 0x02,
  Login: 0x03,
  Welcome: 0x04,
  Refused: 0x05,
  Heartbeat: 0x06,
  HeartbeatAck: 0x07,
  Logout: 0x08,
  Presence: 0x09,
  ListRequest: 0x0a,
  Status: 0x0b,
  Introduce: 0x0c,
  Punch: 0x0d,
  Prekey: 0x0e,
  KeyRequest: 0x0f,
  KeyAnswer: 0x10,
  OfflinePut: 0x11,
  OfflineAck: 0x12,
  OfflineDeliver: 0x13,
  OfflineDone: 0x14,
  OfflineReceipt: 0x15,
  ListHold: 0x16,
  HandshakeInit: 0x20,
  HandshakeResponse: 0x21,
  Data: 0x22,
  Relay: 0x30,
  Relayed: 0x31,
} as const;

/**
 * The largest peer datagram (HANDSHAKE-INIT, -RESPONSE, DATA): small enough that a RELAY carrying
 * it, with the longest name, still fits in {@link MAX_DATAGRAM}.
 */
export const MAX_PEER_DATAGRAM = 1077;

/** The largest sealed offline message (so that a PUT or DELIVER with the longest name fits). */
export const MAX_SEALED_BYTES = 1000;

/** OFFLINE-ACK results. */
export const OfflineResult = { Stored: 0, Unknown: 1, Full: 2, Online: 3, Duplicate: 4 } as const;

/** True when `inner` may be relayed: a peer datagram (handshake or DATA) within the size limit. */
export function isPeerDatagram(inner: Uint8Array): boolean {
  const t = inner[1];
  return inner.length >= 2 && inner.length <= MAX_PEER_DATAGRAM && inner[0] === VERSION && (t === Type.HandshakeInit || t === Type.HandshakeResponse || t === Type.Data);
}

export type V2Message =
  | { type: 'hello'; nonce: Buffer }
  | { type: 'cookie'; nonce: Buffer; cookie: Buffer }
  | {
      type: 'login';
      cookie: Buffer;
      nonce: Buffer;
      identity: Buffer;
      ephemeral: Buffer;
      time: number;
      status: Status;
      name: string;
      endpoint: Endpoint;
      signature: Buffer;
    }
  | {
      type: 'welcome';
      session: Buffer;
      leaseMs: number;
      heartbeatMs: number;
      listVersion: number;
      /** This server run's presence epoch: PRESENCE datagrams carry it, so old ones cannot be replayed. */
      epoch: Buffer;
      observed: Endpoint;
      serverIdentity: Buffer;
      serverEphemeral: Buffer;
      /**
       * A presence hold in force at the login (a storm): how long to wait for it to settle and the
       * spread to fetch within, as a LIST-HOLD would say; 0 and 0 when there is none.
       */
      holdWaitMs: number;
      holdSpreadMs: number;
      signature: Buffer;
    }
  | { type: 'refused'; code: number; reason: string }
  | { type: 'heartbeat'; session: Buffer; counter: number; listVersion: number; mac: Buffer }
  | { type: 'heartbeat-ack'; session: Buffer; counter: number; listVersion: number; mac: Buffer }
  | { type: 'logout'; session: Buffer; counter: number; listVersion: number; mac: Buffer }
  | { type: 'list-request'; session: Buffer; counter: number; listVersion: number; mac: Buffer }
  | { type: 'status'; session: Buffer; counter: number; status: Status; mac: Buffer }
  | { type: 'introduce'; session: Buffer; counter: number; peer: string; mac: Buffer }
  | { type: 'punch'; peer: string; observed: Endpoint; privateEndpoint: Endpoint; mac: Buffer }
  | { type: 'relay'; session: Buffer; peer: string; inner: Buffer; mac: Buffer }
  | { type: 'relayed'; peer: string; inner: Buffer; mac: Buffer }
  | { type: 'prekey'; session: Buffer; counter: number; prekey: Buffer; signature: Buffer; mac: Buffer }
  | { type: 'key-request'; session: Buffer; counter: number; peer: string; mac: Buffer }
  | { type: 'key-answer'; peer: string; identity: Buffer; prekey: Buffer; signature: Buffer; mac: Buffer }
  | { type: 'offline-put'; session: Buffer; counter: number; id: number; to: string; sealed: Buffer; mac: Buffer }
  | { type: 'offline-ack'; id: number; result: number; mac: Buffer }
  | { type: 'offline-deliver'; id: number; from: string; storedAt: number; sealed: Buffer; mac: Buffer }
  | { type: 'offline-done'; session: Buffer; counter: number; id: number; mac: Buffer }
  | { type: 'offline-receipt'; id: number; to: string; mac: Buffer }
  | { type: 'presence'; epoch: Buffer; fromVersion: number; toVersion: number; part: number; parts: number; entries: PresenceEntry[]; signature: Buffer }
  /**
   * A login storm: the list reached `version` and deltas stop until it settles; fetch the whole
   * list then, at a random moment within `spreadMs`, or after `waitMs` without a settle.
   */
  | { type: 'list-hold'; epoch: Buffer; version: number; waitMs: number; spreadMs: number; signature: Buffer }
  | { type: 'handshake-init'; sender: number; name: string; ephemeral: Buffer; identity: Buffer; signature: Buffer }
  | { type: 'handshake-response'; sender: number; receiver: number; ephemeral: Buffer; identity: Buffer; signature: Buffer }
  | { type: 'data'; receiver: number; counter: number; ciphertext: Buffer };

/** Session messages share one layout: session, counter, list version, MAC over what precedes it. */
const SESSION_TYPES = {
  heartbeat: Type.Heartbeat,
  'heartbeat-ack': Type.HeartbeatAck,
  logout: Type.Logout,
  'list-request': Type.ListRequest,
} as const;

/** One change in the online list: a user joined or changed (`upsert`), or left (`remove`). */
export type PresenceEntry =
  | {
      op: 'upsert';
      name: string;
      protocol: 'classic' | 'qim';
      status: Status;
      /**
       * The identity key's fingerprint (the first 16 bytes of its SHA-256; zeros for a classic
       * user, who has none). The key itself is asked for when needed (KEY-REQUEST).
       */
      fingerprint: Buffer;
      /** Where the server sees the user (their public endpoint behind a NAT). */
      endpoint: Endpoint;
      /** Where the user says it is (its LOGIN's endpoint; for a classic user the same). */
      privateEndpoint: Endpoint;
    }
  | { op: 'remove'; name: string };

/** Bytes of a PRESENCE before its entries: header, epoch, two versions, part, parts, entry count. */
export const PRESENCE_HEADER_BYTES = 24;

/** A PRESENCE ends with the server's Ed25519 signature over every byte before it. */
export const PRESENCE_SIGNATURE_BYTES = 64;

/** The bytes of a PRESENCE (or a LIST-HOLD) that its signature covers. */
export function presenceSigned(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, bytes.length - PRESENCE_SIGNATURE_BYTES);
}

/** Bytes one entry takes on the wire. */
export function presenceEntryBytes(e: PresenceEntry): number {
  const name = 2 + Buffer.byteLength(e.name);
  if (e.op === 'remove') return name;
  const ep = (x: Endpoint): number => (x.address.includes(':') ? 19 : 7);
  return name + 2 + 16 + ep(e.endpoint) + (sameEndpoint(e.endpoint, e.privateEndpoint) ? 1 : ep(e.privateEndpoint));
}

function writeEntry(w: ByteWriter, e: PresenceEntry): void {
  w.u8(e.op === 'upsert' ? 1 : 2).str8(e.name, MAX_NAME_BYTES);
  if (e.op === 'remove') return;
  w.u8(e.protocol === 'qim' ? 1 : 0).u8(STATUSES.indexOf(e.status)).raw(e.fingerprint).endpoint(e.endpoint);
  // Most users are where they say they are: a private endpoint equal to the first is one zero byte.
  if (sameEndpoint(e.endpoint, e.privateEndpoint)) w.u8(0);
  else w.endpoint(e.privateEndpoint);
}

function readEntry(r: ByteReader): PresenceEntry {
  const op = r.u8();
  const name = r.str8(MAX_NAME_BYTES);
  if (op === 2) return { op: 'remove', name };
  if (op !== 1) r.fail();
  const proto = r.u8();
  if (proto > 1) r.fail();
  const status = STATUSES[r.u8()];
  if (status === undefined) r.fail();
  const fingerprint = r.fixed(16);
  const endpoint = r.endpoint();
  const same = r.peek() === 0;
  if (same) r.u8();
  return { op: 'upsert', name, protocol: proto === 1 ? 'qim' : 'classic', status: status ?? 'online', fingerprint, endpoint, privateEndpoint: same ? endpoint : r.endpoint() };
}

/** The bytes of a session message that its MAC covers (all but the MAC itself). */
export const SESSION_MAC_OFFSET = 22;

/** Encodes one message. Throws RangeError for a value that cannot be on the wire (a caller bug). */
export function encodeV2(m: V2Message): Buffer {
  // Signed messages are their signed bytes followed by the signature.
  if (m.type === 'login') return check(Buffer.concat([loginSigned(m), m.signature]));
  if (m.type === 'welcome') return check(Buffer.concat([welcomeSigned(m), m.signature]));
  const w = new ByteWriter();
  w.u8(VERSION);
  switch (m.type) {
    case 'hello':
      w.u8(Type.Hello).raw(m.nonce).raw(Buffer.alloc(HELLO_BYTES - 2 - m.nonce.length));
      break;
    case 'cookie':
      w.u8(Type.Cookie).raw(m.nonce).raw(m.cookie);
      break;
    case 'refused':
      w.u8(Type.Refused).u8(m.code).str8(m.reason, 64);
      break;
    case 'presence':
      w.u8(Type.Presence).raw(m.epoch).u32(m.fromVersion).u32(m.toVersion).u16(m.part).u16(m.parts).u16(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      w.raw(m.signature);
      break;
    case 'list-hold':
      w.u8(Type.ListHold).raw(m.epoch).u32(m.version).u16(m.waitMs).u16(m.spreadMs).raw(m.signature);
      break;
    case 'heartbeat':
    case 'heartbeat-ack':
    case 'logout':
    case 'list-request':
      w.u8(SESSION_TYPES[m.type]).raw(m.session).u64(m.counter).u32(m.listVersion).raw(m.mac);
      break;
    case 'status':
      w.u8(Type.Status).raw(m.session).u64(m.counter).u8(STATUSES.indexOf(m.status)).raw(m.mac);
      break;
    case 'introduce':
      w.u8(Type.Introduce).raw(m.session).u64(m.counter).str8(m.peer, MAX_NAME_BYTES).raw(m.mac);
      break;
    case 'punch':
      w.u8(Type.Punch).str8(m.peer, MAX_NAME_BYTES).endpoint(m.observed).endpoint(m.privateEndpoint).raw(m.mac);
      break;
    case 'prekey':
      w.u8(Type.Prekey).raw(m.session).u64(m.counter).raw(m.prekey).raw(m.signature).raw(m.mac);
      break;
    case 'key-request':
      w.u8(Type.KeyRequest).raw(m.session).u64(m.counter).str8(m.peer, MAX_NAME_BYTES).raw(m.mac);
      break;
    case 'key-answer':
      w.u8(Type.KeyAnswer).str8(m.peer, MAX_NAME_BYTES).raw(m.identity).raw(m.prekey).raw(m.signature).raw(m.mac);
      break;
    case 'offline-put':
      if (m.sealed.length > MAX_SEALED_BYTES) throw new RangeError('sealed message too large');
      w.u8(Type.OfflinePut).raw(m.session).u64(m.counter).u64(m.id).str8(m.to, MAX_NAME_BYTES).raw(m.sealed).raw(m.mac);
      break;
    case 'offline-ack':
      w.u8(Type.OfflineAck).u64(m.id).u8(m.result).raw(m.mac);
      break;
    case 'offline-deliver':
      if (m.sealed.length > MAX_SEALED_BYTES) throw new RangeError('sealed message too large');
      w.u8(Type.OfflineDeliver).u64(m.id).str8(m.from, MAX_NAME_BYTES).u64(m.storedAt).raw(m.sealed).raw(m.mac);
      break;
    case 'offline-done':
      w.u8(Type.OfflineDone).raw(m.session).u64(m.counter).u64(m.id).raw(m.mac);
      break;
    case 'offline-receipt':
      w.u8(Type.OfflineReceipt).u64(m.id).str8(m.to, MAX_NAME_BYTES).raw(m.mac);
      break;
    case 'relay':
      if (!isPeerDatagram(m.inner)) throw new RangeError('a RELAY carries one peer datagram');
      w.u8(Type.Relay).raw(m.session).str8(m.peer, MAX_NAME_BYTES).raw(m.inner).raw(m.mac);
      break;
    case 'relayed':
      if (!isPeerDatagram(m.inner)) throw new RangeError('a RELAYED carries one peer datagram');
      w.u8(Type.Relayed).str8(m.peer, MAX_NAME_BYTES).raw(m.inner).raw(m.mac);
      break;
    case 'handshake-init':
      w.u8(Type.HandshakeInit).u32(m.sender).str8(m.name, MAX_NAME_BYTES).raw(m.ephemeral).raw(m.identity).raw(m.signature);
      break;
    case 'handshake-response':
      w.u8(Type.HandshakeResponse).u32(m.sender).u32(m.receiver).raw(m.ephemeral).raw(m.identity).raw(m.signature);
      break;
    case 'data':
      w.u8(Type.Data).u32(m.receiver).u64(m.counter).raw(m.ciphertext);
      break;
  }
  return check(w.finish());
}

function check(bytes: Buffer): Buffer {
  if (bytes.length > MAX_DATAGRAM) throw new RangeError(`datagram of ${bytes.length} bytes exceeds ${MAX_DATAGRAM}`);
  return Buffer.from(bytes);
}

/** The bytes a LOGIN's signature covers: the whole datagram up to the signature. */
export function loginSigned(m: Extract<V2Message, { type: 'login' }>): Buffer {
  return new ByteWriter()
    .u8(VERSION)
    .u8(Type.Login)
    .raw(m.cookie)
    .raw(m.nonce)
    .raw(m.identity)
    .raw(m.ephemeral)
    .u64(m.time)
    .u8(STATUSES.indexOf(m.status))
    .str8(m.name, MAX_NAME_BYTES)
    .endpoint(m.endpoint)
    .finish();
}

/** The bytes a WELCOME's signature covers: the whole datagram up to the signature. */
export function welcomeSigned(m: Extract<V2Message, { type: 'welcome' }>): Buffer {
  return new ByteWriter()
    .u8(VERSION)
    .u8(Type.Welcome)
    .raw(m.session)
    .u32(m.leaseMs)
    .u32(m.heartbeatMs)
    .u32(m.listVersion)
    .raw(m.epoch)
    .endpoint(m.observed)
    .raw(m.serverIdentity)
    .raw(m.serverEphemeral)
    .u16(m.holdWaitMs)
    .u16(m.holdSpreadMs)
    .finish();
}

/** The header a DATA ciphertext authenticates as associated data (version to counter). */
export function dataHeader(receiver: number, counter: number): Buffer {
  const out = Buffer.allocUnsafe(DATA_HEADER_BYTES);
  writeDataHeader(out, receiver, counter);
  return out;
}

/** Bytes of a DATA datagram before its ciphertext (version, type, receiver u32, counter u64). */
export const DATA_HEADER_BYTES = 14;

/** Writes a DATA header into the first {@link DATA_HEADER_BYTES} of `out` (as encodeV2 would). */
export function writeDataHeader(out: Buffer, receiver: number, counter: number): void {
  out[0] = VERSION;
  out[1] = Type.Data;
  out.writeUInt32BE(receiver >>> 0, 2);
  out.writeUInt16BE(0, 6);
  out.writeUIntBE(counter, 8, 6);
}

/** The rest of a datagram as a sealed message (at most {@link MAX_SEALED_BYTES}) and its trailing MAC. */
function sealedAndMac(r: ByteReader): [Buffer, Buffer] {
  if (r.remaining < 16 || r.remaining - 16 > MAX_SEALED_BYTES) r.fail();
  const body = r.rest();
  const cut = Math.max(0, body.length - 16);
  return [Buffer.from(body.subarray(0, cut)), Buffer.from(body.subarray(cut))];
}

/** True when a datagram starts with the qim-protocol version byte. */
export function looksV2(bytes: Uint8Array): boolean {
  return bytes[0] === VERSION;
}

/** Decodes one datagram; never throws. */
export function decodeV2(bytes: Uint8Array): Decoded<V2Message> {
  if (bytes.length === 0) return { ok: false, reason: 'empty' };
  if (bytes.length > MAX_DATAGRAM) return { ok: false, reason: 'oversized' };
  const r = new ByteReader(bytes);
  if (r.u8() !== VERSION || bytes.length < 2) return { ok: false, reason: 'unknown-command' };
  const type = r.u8();
  let m: V2Message;
  switch (type) {
    case Type.Hello: {
      if (bytes.length !== HELLO_BYTES) return { ok: false, reason: 'bad-length' };
      m = { type: 'hello', nonce: r.fixed(16) };
      r.rest();
      break;
    }
    case Type.Cookie:
      m = { type: 'cookie', nonce: r.fixed(16), cookie: r.fixed(16) };
      break;
    case Type.Login: {
      const cookie = r.fixed(16);
      const nonce = r.fixed(16);
      const identity = r.fixed(32);
      const ephemeral = r.fixed(32);
      const time = r.u64();
      const status = STATUSES[r.u8()];
      if (status === undefined) r.fail();
      const name = r.str8(MAX_NAME_BYTES);
      const endpoint = r.endpoint();
      m = { type: 'login', cookie, nonce, identity, ephemeral, time, status: status ?? 'online', name, endpoint, signature: r.fixed(64) };
      break;
    }
    case Type.Welcome:
      m = {
        type: 'welcome',
        session: r.fixed(8),
        leaseMs: r.u32(),
        heartbeatMs: r.u32(),
        listVersion: r.u32(),
        epoch: r.fixed(8),
        observed: r.endpoint(),
        serverIdentity: r.fixed(32),
        serverEphemeral: r.fixed(32),
        holdWaitMs: r.u16(),
        holdSpreadMs: r.u16(),
        signature: r.fixed(64),
      };
      break;
    case Type.Refused:
      m = { type: 'refused', code: r.u8(), reason: r.str8(64) };
      break;
    case Type.Presence: {
      const epoch = r.fixed(8);
      const fromVersion = r.u32();
      const toVersion = r.u32();
      const part = r.u16();
      const parts = r.u16();
      if (part >= parts) r.fail();
      const count = r.u16();
      const entries: PresenceEntry[] = [];
      for (let i = 0; i < count && r.ok; i++) entries.push(readEntry(r));
      m = { type: 'presence', epoch, fromVersion, toVersion, part, parts, entries, signature: r.fixed(PRESENCE_SIGNATURE_BYTES) };
      break;
    }
    case Type.ListHold:
      m = { type: 'list-hold', epoch: r.fixed(8), version: r.u32(), waitMs: r.u16(), spreadMs: r.u16(), signature: r.fixed(PRESENCE_SIGNATURE_BYTES) };
      break;
    case Type.Heartbeat:
    case Type.HeartbeatAck:
    case Type.Logout:
    case Type.ListRequest:
      m = {
        type:
          type === Type.Heartbeat ? 'heartbeat' : type === Type.HeartbeatAck ? 'heartbeat-ack' : type === Type.Logout ? 'logout' : 'list-request',
        session: r.fixed(8),
        counter: r.u64(),
        listVersion: r.u32(),
        mac: r.fixed(16),
      };
      break;
    case Type.Status: {
      const session = r.fixed(8);
      const counter = r.u64();
      const status = STATUSES[r.u8()];
      if (status === undefined) r.fail();
      m = { type: 'status', session, counter, status: status ?? 'online', mac: r.fixed(16) };
      break;
    }
    case Type.Introduce:
      m = { type: 'introduce', session: r.fixed(8), counter: r.u64(), peer: r.str8(MAX_NAME_BYTES), mac: r.fixed(16) };
      break;
    case Type.Punch:
      m = { type: 'punch', peer: r.str8(MAX_NAME_BYTES), observed: r.endpoint(), privateEndpoint: r.endpoint(), mac: r.fixed(16) };
      break;
    case Type.Prekey:
      m = { type: 'prekey', session: r.fixed(8), counter: r.u64(), prekey: r.fixed(32), signature: r.fixed(64), mac: r.fixed(16) };
      break;
    case Type.KeyRequest:
      m = { type: 'key-request', session: r.fixed(8), counter: r.u64(), peer: r.str8(MAX_NAME_BYTES), mac: r.fixed(16) };
      break;
    case Type.KeyAnswer:
      m = { type: 'key-answer', peer: r.str8(MAX_NAME_BYTES), identity: r.fixed(32), prekey: r.fixed(32), signature: r.fixed(64), mac: r.fixed(16) };
      break;
    case Type.OfflinePut: {
      const session = r.fixed(8);
      const counter = r.u64();
      const id = r.u64();
      const to = r.str8(MAX_NAME_BYTES);
      const [sealed, mac] = sealedAndMac(r);
      m = { type: 'offline-put', session, counter, id, to, sealed, mac };
      break;
    }
    case Type.OfflineDeliver: {
      const id = r.u64();
      const from = r.str8(MAX_NAME_BYTES);
      const storedAt = r.u64();
      const [sealed, mac] = sealedAndMac(r);
      m = { type: 'offline-deliver', id, from, storedAt, sealed, mac };
      break;
    }
    case Type.OfflineAck:
      m = { type: 'offline-ack', id: r.u64(), result: r.u8(), mac: r.fixed(16) };
      break;
    case Type.OfflineDone:
      m = { type: 'offline-done', session: r.fixed(8), counter: r.u64(), id: r.u64(), mac: r.fixed(16) };
      break;
    case Type.OfflineReceipt:
      m = { type: 'offline-receipt', id: r.u64(), to: r.str8(MAX_NAME_BYTES), mac: r.fixed(16) };
      break;
    case Type.Relay:
    case Type.Relayed: {
      const session = type === Type.Relay ? r.fixed(8) : null;
      const peer = r.str8(MAX_NAME_BYTES);
      if (r.remaining < 16 + 2) r.fail();
      const body = r.rest();
      const inner = body.subarray(0, Math.max(0, body.length - 16));
      const mac = body.subarray(Math.max(0, body.length - 16));
      if (!isPeerDatagram(inner)) r.fail();
      m = session !== null ? { type: 'relay', session, peer, inner: Buffer.from(inner), mac: Buffer.from(mac) } : { type: 'relayed', peer, inner: Buffer.from(inner), mac: Buffer.from(mac) };
      break;
    }
    case Type.HandshakeInit:
      m = {
        type: 'handshake-init',
        sender: r.u32(),
        name: r.str8(MAX_NAME_BYTES),
        ephemeral: r.fixed(32),
        identity: r.fixed(32),
        signature: r.fixed(64),
      };
      break;
    case Type.HandshakeResponse:
      m = {
        type: 'handshake-response',
        sender: r.u32(),
        receiver: r.u32(),
        ephemeral: r.fixed(32),
        identity: r.fixed(32),
        signature: r.fixed(64),
      };
      break;
    case Type.Data: {
      const receiver = r.u32();
      const counter = r.u64();
      if (r.remaining < 16) r.fail();
      m = { type: 'data', receiver, counter, ciphertext: r.rest() };
      break;
    }
    default:
      return { ok: false, reason: 'unknown-command' };
  }
  if (!r.done()) return { ok: false, reason: 'missing-field' };
  return { ok: true, value: m };
}
