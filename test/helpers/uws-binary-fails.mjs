// Preloaded (--import) into a gateway by test/startup.test.ts: uWebSockets.js' native binary fails to load,
// as it does on a Node ABI or libc it was not built for.
const dlopen = process.dlopen.bind(process);
process.dlopen = (module, filename, ...flags) => {
  if (/uws_[^/]*\.node$/.test(filename)) throw new Error(`${filename}: cannot open shared object file (simulated)`);
  return dlopen(module, filename, ...flags);
};
