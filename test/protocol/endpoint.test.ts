import { describe, expect, it } from 'vitest';
import { canonicalAddress, formatEndpoint, parseEndpoint, parseHostPort, parsePort } from '../../src/protocol/endpoint.js';

describe('endpoints', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FE80::1%eth0', 'fe80::1%eth0'],
  ])('canonicalises %s as %s', (input, output) => {
    expect(canonicalAddress(input)).toBe(output);
  });

  it.each(['127.1', '010.0.0.1', 'localhost', '', '1.2.3.4.5', ':::'])('refuses %j as an address', (input) => {
    expect(canonicalAddress(input)).toBeNull();
  });

  it('parses and formats IPv4 and bracketed IPv6', () => {
    expect(parseEndpoint('10.1.2.3:8500')).toEqual({ address: '10.1.2.3', port: 8500 });
    expect(parseEndpoint('[::1]:8500')).toEqual({ address: '::1', port: 8500 });
    expect(formatEndpoint({ address: '::1', port: 8500 })).toBe('[::1]:8500');
    expect(formatEndpoint({ address: '10.1.2.3', port: 8500 })).toBe('10.1.2.3:8500');
  });

  it.each(['1.2.3.4', '1.2.3.4:', ':80', '[::1:80', '::1:80', '1.2.3.4:-1', '1.2.3.4:+80', '1.2.3.4:08', 'a.b.c.d:80'])(
    'refuses %j as an endpoint',
    (input) => {
      expect(parseEndpoint(input)).toBeNull();
    },
  );

  it('parses ports strictly', () => {
    expect(parsePort('1')).toBe(1);
    expect(parsePort('65535')).toBe(65535);
    for (const bad of ['0', '65536', '00', '1e3', ' 1', '0x10']) expect(parsePort(bad)).toBeNull();
  });

  it('parses a user-given HOST:PORT with a host name', () => {
    expect(parseHostPort('localhost:8500')).toEqual({ host: 'localhost', port: 8500 });
    expect(parseHostPort('[::1]:8500')).toEqual({ host: '::1', port: 8500 });
    expect(parseHostPort('nope')).toBeNull();
    expect(parseHostPort('host:0')).toBeNull();
  });
});
