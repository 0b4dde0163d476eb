import { describe, expect, it } from 'vitest';
import { loadUws, needsGlibcCompat, runningGlibc, uwsBinaryName } from './uws-native.js';

describe('uWebSockets.js binary choice', () => {
  it('uses the glibc compatibility copy only below glibc 2.38, never off glibc', () => {
    expect(needsGlibcCompat([2, 36])).toBe(true);
    expect(needsGlibcCompat([2, 37])).toBe(true);
    expect(needsGlibcCompat([1, 99])).toBe(true);
    expect(needsGlibcCompat([2, 38])).toBe(false);
    expect(needsGlibcCompat([2, 41])).toBe(false);
    expect(needsGlibcCompat([3, 0])).toBe(false);
    expect(needsGlibcCompat(undefined)).toBe(false);
  });

  it('names the binary for the running Node ABI, platform and CPU', () => {
    expect(uwsBinaryName()).toBe(`uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
    if (process.platform === 'linux') expect(runningGlibc()).toEqual([expect.any(Number), expect.any(Number)]);
  });

  it('loads the native module on this machine', () => {
    const uws = loadUws();
    expect(typeof uws.App).toBe('function');
    expect(typeof uws.SSLApp).toBe('function');
  });
});
