// Copies a uWebSockets.js Linux binary and marks its need of glibc versions newer than this machine's as
// weak (VER_FLG_WEAK on the version-need entry), so the dynamic loader does not refuse the file; the
// symbols it imports at those versions must then come from the shim built beside it (glibc-c23-shim.c).
// Refuses (exit 1) when the binary imports at those versions any symbol the shim does not provide: a
// weakened need whose symbol is missing would otherwise fail only when uWS first calls it.
//   node weaken-glibc-needs.mjs <in.node> <out.node> <running glibc, e.g. 2.36> <symbol>...
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, runningGlibc, ...provided] = process.argv.slice(2);
const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 0x2;

const elf = readFileSync(input);
if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
  throw new Error(`${input}: not a 64-bit little-endian ELF file`);
}
const sections = [];
const shoff = Number(elf.readBigUInt64LE(0x28));
for (let i = 0; i < elf.readUInt16LE(0x3c); i++) {
  const at = shoff + i * elf.readUInt16LE(0x3a);
  sections.push({
    type: elf.readUInt32LE(at + 4),
    offset: Number(elf.readBigUInt64LE(at + 24)),
    size: Number(elf.readBigUInt64LE(at + 32)),
    link: elf.readUInt32LE(at + 40),
    info: elf.readUInt32LE(at + 44),
  });
}
const cString = (section, at) => {
  const start = section.offset + at;
  return elf.toString('latin1', start, elf.indexOf(0, start));
};
const only = (type) => {
  const found = sections.filter((s) => s.type === type);
  if (found.length !== 1) throw new Error(`${input}: expected one section of type ${type.toString(16)}`);
  return found[0];
};

const newerThanRunning = (name) => {
  const m = /^GLIBC_(\d+)\.(\d+)/.exec(name);
  if (!m) return false;
  const [major, minor] = runningGlibc.split('.').map(Number);
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) > minor);
};

// Version needs: weaken each glibc version newer than the running one, remembering its index.
const verneed = only(SHT_GNU_VERNEED);
const needStrings = sections[verneed.link];
const weakened = new Map(); // version index -> name
let need = verneed.offset;
for (let n = 0; n < verneed.info; n++) {
  let aux = need + elf.readUInt32LE(need + 8);
  for (let a = 0; a < elf.readUInt16LE(need + 2); a++) {
    const name = cString(needStrings, elf.readUInt32LE(aux + 8));
    if (newerThanRunning(name)) {
      elf.writeUInt16LE(elf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
      weakened.set(elf.readUInt16LE(aux + 6), name);
    }
    aux += elf.readUInt32LE(aux + 12);
  }
  need += elf.readUInt32LE(need + 12);
}

// Imported symbols at a weakened version must all be provided by the shim.
const dynsym = only(SHT_DYNSYM);
const versym = only(SHT_GNU_VERSYM);
const symbolStrings = sections[dynsym.link];
const unprovided = [];
for (let i = 0; i < dynsym.size / 24; i++) {
  const sym = dynsym.offset + i * 24;
  const version = elf.readUInt16LE(versym.offset + i * 2) & 0x7fff;
  if (elf.readUInt16LE(sym + 6) !== 0 || !weakened.has(version)) continue;
  const name = cString(symbolStrings, elf.readUInt32LE(sym));
  if (!provided.includes(name)) unprovided.push(`${name}@${weakened.get(version)}`);
}
if (unprovided.length > 0) {
  console.error(`${input} needs symbols newer than glibc ${runningGlibc} that the shim lacks: ${unprovided.join(', ')}`);
  process.exit(1);
}
writeFileSync(output, elf);
console.log(`${output}: weakened ${[...weakened.values()].join(', ') || 'nothing'}`);
