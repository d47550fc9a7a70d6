import { isIPv4, isIPv6 } from 'node:net';

/** A UDP or TCP endpoint. `address` is always in canonical form (see {@link canonicalAddress}). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/**
 * The canonical text of an IP address, or null when `text` is not one.
 *
 * IPv4 must be dotted-quad without leading zeros (`127.1` and `010.0.0.1` are refused: .NET would
 * read them differently from Node). IPv6 is lower-cased and compressed; an IPv4-mapped IPv6 address
 * (`::ffff:1.2.3.4`, what a dual-stack socket reports for an IPv4 peer) becomes plain IPv4, so the
 * same host always compares equal whichever socket saw it.
 */
export function canonicalAddress(text: string): string | null {
  if (isIPv4(text)) return text;
  if (!isIPv6(text)) return null;
  // URL parsing is the one built-in IPv6 normaliser (RFC 5952 compression, lower case); it also
  // rewrites an embedded dotted quad as two hex groups, which the mapped check below relies on.
  // A scope id (`fe80::1%eth0`) is kept as written; URL parsing does not accept it.
  const pct = text.indexOf('%');
  const bare = pct < 0 ? text : text.slice(0, pct);
  const zone = pct < 0 ? '' : text.slice(pct);
  if (!URL.canParse(`http://[${bare}]/`)) return null;
  const inner = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(inner);
  if (hexMapped?.[1] !== undefined && hexMapped[2] !== undefined) {
    const hi = parseInt(hexMapped[1], 16);
    const lo = parseInt(hexMapped[2], 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return inner + zone;
}

/** True when `n` is a usable port number (1 to 65535; port 0 cannot receive). */
export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

const PORT_TEXT = /^[1-9][0-9]{0,4}$/;

/** Parses a decimal port (no sign, no leading zero, 1 to 65535), or null. */
export function parsePort(text: string): number | null {
  if (!PORT_TEXT.test(text)) return null;
  const n = Number(text);
  return isPort(n) ? n : null;
}

/**
 * Parses `IP:port` the way the classic protocol writes it: IPv4 as `a.b.c.d:port`, IPv6 as
 * `[addr]:port` (what .NET's `IPEndPoint.ToString()` prints). Returns null for anything else.
 */
export function parseEndpoint(text: string): Endpoint | null {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  const port = parsePort(text.slice(colon + 1));
  if (port === null) return null;
  let host = text.slice(0, colon);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return null;
    host = host.slice(1, -1);
    if (!isIPv6(host)) return null;
  } else if (!isIPv4(host)) {
    return null;
  }
  const address = canonicalAddress(host);
  return address === null ? null : { address, port };
}

/** Formats an endpoint as `IP:port` (IPv6 in brackets), the inverse of {@link parseEndpoint}. */
export function formatEndpoint(ep: Endpoint): string {
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** A map key for an endpoint. */
export function endpointKey(ep: Endpoint): string {
  return formatEndpoint(ep);
}

/** Parses a user-supplied `HOST:PORT` where HOST may also be a name (`localhost:8500`). */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  const port = parsePort(text.slice(colon + 1));
  if (port === null) return null;
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.length === 0 || /[\s/]/.test(host)) return null;
  return { host, port };
}

/** True when two endpoints are the same address and port. */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.address === b.address;
}
