/**
 * qim's public API: the index server, the client, and the pure codecs they are built on.
 * The CLI (`qim server`, `qim chat`) is a thin shell over exactly these exports.
 */
export { QimError, type QimErrorCode } from './errors.js';
export {
  canonicalAddress,
  formatEndpoint,
  parseEndpoint,
  parseHostPort,
  sameEndpoint,
  type Endpoint,
} from './protocol/endpoint.js';
export { nameProblem, DEFAULT_MAX_NAME_LENGTH } from './protocol/names.js';
export type { Decoded, DropReason } from './protocol/result.js';
export {
  classicTime,
  decodeClassic,
  encodeClassic,
  looksClassic,
  CLASSIC_MAX_DATAGRAM_BYTES,
  type ClassicDatagram,
} from './protocol/classic/datagram.js';
export {
  DotNetStringReader,
  encodeDotNetString,
  encodeList,
  formatList,
  parseList,
  CLASSIC_MAX_LIST_BYTES,
  type ListEntry,
  type StringReadState,
} from './protocol/classic/list.js';
export { QimServer, type ServerState } from './server/server.js';
export type { ServerEvents } from './server/events.js';
export type { ServerCounters } from './server/counters.js';
export type { OnlineUser, UserProtocol } from './server/directory.js';
export {
  DEFAULT_PORT,
  DEFAULT_SERVER_LIMITS,
  type ServerLimits,
  type ServerOptions,
} from './server/options.js';
export {
  QimClient,
  type ClientEvents,
  type ClientState,
  type Contact,
  type IncomingMessage,
} from './client/client.js';
export { DEFAULT_CLIENT_LIMITS, type ClientLimits, type ClientOptions } from './client/options.js';
export { Conversations, type ChatLine, type ConversationSummary } from './client/conversations.js';
export * from './reliability/index.js';
export { ed25519KeyPair, fingerprint, type KeyPair } from './crypto/keys.js';
export { HandshakeInitiator, respondToHandshake, type HandshakeError, type SessionKeys } from './crypto/handshake.js';
export { SecureChannel, ReplayWindow } from './crypto/channel.js';
export { decodeV2, encodeV2, type V2Message, type Status } from './protocol/v2/messages.js';
export { MemoryAccounts, SqliteAccounts, type AccountStore } from './server/accounts.js';
export { openServerData, defaultServerDataDir } from './server/storage.js';
export { Dashboard, type DashboardOptions } from './server/http/dashboard.js';
