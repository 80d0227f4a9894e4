// Numbers people read: sizes, durations and moments.

// Human sizes for progress and limits: "12.3 MB", "980 KB", "17 B".
/** @param {number} count */
export function bytes(count) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// A short duration, coarser as it grows: "42 s", "5 min", "3 h 12 min", "12 d 4 h".
/** @param {number} seconds */
export function ago(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// A moment people read in their own locale: "25 Nov 2026, 10:13:56".
/** @param {number} seconds Unix time */
export function dateTime(seconds) {
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
