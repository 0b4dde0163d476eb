// The one record shape every bench scenario and ceiling sends: a device reading padded to exactly
// `size` bytes of JSON, so HTTP scenarios and producer ceilings move the same bytes.
export function deviceRecord(i, size = 200) {
  const base = `{"device_id":"dev-${String(i % 1000).padStart(5, '0')}","ts":${1764060000000 + i},"seq":${i},"temp":${(20 + (i % 100) / 10).toFixed(1)},"humidity":48.2,"battery":3.71,"lat":52.520008,"lon":13.404954,"status":"ok","pad":"`;
  const pad = size - Buffer.byteLength(base) - 2;
  if (pad < 0) throw new Error(`record size ${size} is too small for the record template`);
  return base + 'x'.repeat(pad) + '"}';
}
