// When a device's consumables run out: the earliest of its battery and pads dates, and how urgent that is.

export type Urgency = 'expired' | 'soon' | 'ok' | 'unknown'

export function earliestExpiry(dates: (string | null | undefined)[]): string | null {
  const known = dates.filter((d): d is string => !!d).sort()
  return known[0] ?? null
}

/** `today` and dates as YYYY-MM-DD (Beijing); "soon" within `soonDays`. */
export function urgency(expiry: string | null, today: string, soonDays = 30): Urgency {
  if (!expiry) return 'unknown'
  if (expiry < today) return 'expired'
  const days = (Date.parse(expiry) - Date.parse(today)) / 86_400_000
  return days <= soonDays ? 'soon' : 'ok'
}

export function beijingToday(now = new Date()): string {
  return now.toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }) // sv-SE writes YYYY-MM-DD
}
