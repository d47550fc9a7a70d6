import { describe, expect, it } from 'vitest';
import { dataHome } from '../src/data-home.js';
import { defaultServerDataDir } from '../src/server/storage.js';
import { defaultProfilesRoot } from '../src/client/profile.js';

describe('the data home (XDG_DATA_HOME)', () => {
  it('is XDG_DATA_HOME when that is an absolute path', () => {
    expect(dataHome({ XDG_DATA_HOME: '/srv/data' }, '/home/u')).toBe('/srv/data');
  });

  it('is ~/.local/share when XDG_DATA_HOME is unset, empty or relative (never the folder qim was started from)', () => {
    for (const env of [{}, { XDG_DATA_HOME: '' }, { XDG_DATA_HOME: 'data' }, { XDG_DATA_HOME: './x' }]) {
      expect(dataHome(env, '/home/u')).toBe('/home/u/.local/share');
    }
  });

  it('is where the server keeps its data and the clients their profiles', () => {
    const saved = process.env.XDG_DATA_HOME;
    try {
      process.env.XDG_DATA_HOME = '';
      expect(defaultServerDataDir()).toMatch(/^\/.*\/\.local\/share\/qim-server$/);
      expect(defaultProfilesRoot()).toMatch(/^\/.*\/\.local\/share\/qim$/);
      process.env.XDG_DATA_HOME = '/srv/data';
      expect(defaultServerDataDir()).toBe('/srv/data/qim-server');
      expect(defaultProfilesRoot()).toBe('/srv/data/qim');
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
  });
});
