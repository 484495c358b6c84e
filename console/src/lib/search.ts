// What a search box entry asks the people directory for, checked before it is sent: a mistyped identity number
// is caught here with the reason, the same rules the server applies (GB 11643: ISO 7064 MOD 11-2).

export type SearchKind = 'empty' | 'id_number' | 'phone' | 'masked_phone' | 'name' | 'invalid'

export interface Classified {
  kind: SearchKind
  value: string
  reason?: 'id-format' | 'id-birth-date' | 'id-check-digit' | 'digits'
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = '10X98765432'

export function checkCharacter(body17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(body17[i]) * WEIGHTS[i]
  return CHECK[sum % 11]
}

function birthDateExists(number: string): boolean {
  const [y, m, d] = [number.slice(6, 10), number.slice(10, 12), number.slice(12, 14)].map(Number)
  const date = new Date(Date.UTC(y, m - 1, d))
  return y >= 1900 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
}

export function classify(input: string): Classified {
  const text = input.trim()
  if (!text) return { kind: 'empty', value: '' }
  const compact = text.replace(/[\s-]/g, '').replace(/^\+86/, '').toUpperCase()
  if (/^\d{17}[\dX]$/.test(compact)) {
    if (!birthDateExists(compact)) return { kind: 'invalid', value: compact, reason: 'id-birth-date' }
    if (checkCharacter(compact.slice(0, 17)) !== compact[17])
      return { kind: 'invalid', value: compact, reason: 'id-check-digit' }
    return { kind: 'id_number', value: compact }
  }
  if (/^1[3-9]\d{9}$/.test(compact)) return { kind: 'phone', value: compact }
  if (/^1[3-9]\d\*{4}\d{4}$/.test(compact)) return { kind: 'masked_phone', value: compact }
  if (/^[\d*X]+$/.test(compact)) {
    const reason = compact.length >= 15 ? 'id-format' : 'digits'
    return { kind: 'invalid', value: compact, reason }
  }
  return { kind: 'name', value: text }
}
