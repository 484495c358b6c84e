// The access token lives in memory only; these read what the console needs from it and when to renew it.

export interface Claims {
  sub: string
  roles: string[]
  district: string | null
  exp: number
}

function base64UrlDecode(part: string): string {
  const padded = part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4)
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

/** The token's claims, unverified: for showing the right pages only. Every call is checked by the server. */
export function claimsOf(token: string): Claims {
  const payload = JSON.parse(base64UrlDecode(token.split('.')[1] || ''))
  return {
    sub: String(payload.sub || ''),
    roles: Array.isArray(payload.roles) ? payload.roles.map(String) : [],
    district: payload.district ?? null,
    exp: Number(payload.exp || 0),
  }
}

/** Renew a minute before expiry (never sooner than 5 s from now), so calls never carry an expired token. */
export function renewalDelayMs(expiresInSeconds: number): number {
  return Math.max(5, expiresInSeconds - 60) * 1000
}
