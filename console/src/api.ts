// The console's one way to the gateway. The access token is held in memory only; the refresh token is an
// HttpOnly cookie the browser sends to /api/v1/auth/console/* alone, so a script injected into the page could
// not read either from storage. Renewal is single-flight within the tab and serialised across tabs (Web Locks):
// the refresh token rotates on every use, and two concurrent uses would look like theft and end the sign-in.

import { reactive } from 'vue'
import { ApiError, NetworkError, type ProblemBody } from './lib/problem'
import { EventStreamParser, type ServerEvent } from './lib/sse'
import { claimsOf, renewalDelayMs, type Claims } from './lib/token'

const AUTH = '/api/v1/auth/console'

export type SessionEnd = '' | 'signed-out' | 'expired' | 'ended'

export const session = reactive({
  token: '' as string,
  claims: null as Claims | null,
  ended: '' as SessionEnd,
  // The language is a preference, not a secret: kept across reloads.
  language: (typeof localStorage !== 'undefined' && localStorage.getItem('console-language') === 'en'
    ? 'en'
    : 'zh-CN') as 'zh-CN' | 'en',
})

let timer: ReturnType<typeof setTimeout> | undefined
let renewing: Promise<boolean> | null = null

interface TokenBody {
  access_token: string
  expires_in: number
}

function keep(body: TokenBody): void {
  session.token = body.access_token
  session.claims = claimsOf(body.access_token)
  session.ended = ''
  clearTimeout(timer)
  timer = setTimeout(() => void renew(), renewalDelayMs(body.expires_in))
}

function forget(reason: SessionEnd): void {
  clearTimeout(timer)
  session.token = ''
  session.claims = null
  session.ended = reason
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, { credentials: 'same-origin', ...init })
  } catch {
    throw new NetworkError(path)
  }
}

async function problemOf(response: Response): Promise<ApiError> {
  let body: ProblemBody = { status: response.status }
  try {
    body = await response.json()
  } catch {
    /* a proxy's HTML error page: the status says enough */
  }
  return new ApiError(response.status, body)
}

export function hasRole(...roles: string[]): boolean {
  return !!session.claims && session.claims.roles.some((r) => roles.includes(r))
}

export async function signIn(username: string, password: string): Promise<void> {
  const response = await send(`${AUTH}/sign-in`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Accept-Language': session.language },
    body: JSON.stringify({ username, password }),
  })
  if (!response.ok) throw await problemOf(response)
  keep(await response.json())
}

async function renewNow(): Promise<boolean> {
  const response = await send(`${AUTH}/refresh`, { method: 'POST', headers: { 'Accept-Language': session.language } })
  if (response.ok) {
    keep(await response.json())
    return true
  }
  forget(session.token ? 'ended' : '')
  return false
}

/** A new access token from the refresh cookie; false when the sign-in is over (expired, suspended, signed out). */
export function renew(): Promise<boolean> {
  if (!renewing) {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
    const work = locks ? locks.request('timebank-console-renewal', () => renewNow()) : renewNow()
    const settled = (work as Promise<boolean>).finally(() => {
      renewing = null
    })
    renewing = settled
    return settled
  }
  return renewing
}

export async function signOut(): Promise<void> {
  try {
    await send(`${AUTH}/sign-out`, { method: 'POST' })
  } finally {
    forget('signed-out')
  }
}

export interface CallOptions {
  query?: Record<string, string | number | undefined | null>
  body?: unknown
  idempotencyKey?: string
  /** An institution operator's acting-for token (代办), instead of their own. */
  actingFor?: string
}

/** Call the API as the signed-in staff member; one renewal and retry on 401, then the sign-in is over. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(options.query || {})) if (v !== undefined && v !== null && v !== '') query.set(k, String(v))
  const url = query.toString() ? `${path}?${query}` : path
  const key = options.idempotencyKey ?? (method === 'GET' ? undefined : crypto.randomUUID())
  const attempt = () => {
    const headers: Record<string, string> = { Accept: 'application/json', 'Accept-Language': session.language }
    const token = options.actingFor ?? session.token
    if (token) headers.Authorization = `Bearer ${token}`
    if (key) headers['Idempotency-Key'] = key
    if (options.body !== undefined) headers['Content-Type'] = 'application/json'
    return send(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    })
  }
  let response = await attempt()
  if (response.status === 401 && !options.actingFor && (await renew())) response = await attempt()
  if (response.status === 401 && !options.actingFor) forget('expired')
  if (!response.ok) throw await problemOf(response)
  return (response.status === 204 ? undefined : await response.json()) as T
}

/** Every page of a cursor-paged list (for exports), `onPage` told how many so far. */
export async function allPages<T>(
  path: string,
  query: Record<string, string | undefined> = {},
  onPage?: (count: number) => void,
): Promise<T[]> {
  const items: T[] = []
  let cursor: string | undefined
  do {
    const page = await call<{ items: T[]; next_cursor: string | null }>('GET', path, {
      query: { ...query, cursor, limit: 100 },
    })
    items.push(...page.items)
    onPage?.(items.length)
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return items
}

/** Follow a text/event-stream endpoint until it ends (resolves) or fails (rejects), or `signal` aborts. */
export async function follow(
  path: string,
  onEvent: (event: ServerEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const open = () =>
    send(path, {
      headers: { Accept: 'text/event-stream', Authorization: `Bearer ${session.token}` },
      signal,
    })
  let response = await open()
  if (response.status === 401 && (await renew())) response = await open()
  if (response.status === 401) forget('expired')
  if (!response.ok || !response.body) throw await problemOf(response)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  const parser = new EventStreamParser()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    for (const event of parser.feed(value)) onEvent(event)
  }
}

/** Send a file as the request body, reporting the upload's progress (0–100): XMLHttpRequest tells it, fetch not. */
export function upload<T>(path: string, body: Blob, contentType: string, onProgress: (percent: number) => void): Promise<T> {
  const attempt = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = new XMLHttpRequest()
      request.open('POST', path)
      request.setRequestHeader('Authorization', `Bearer ${session.token}`)
      request.setRequestHeader('Content-Type', contentType)
      request.setRequestHeader('Accept-Language', session.language)
      request.setRequestHeader('Idempotency-Key', crypto.randomUUID())
      request.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100))
      request.onload = () => resolve({ status: request.status, text: request.responseText })
      request.onerror = () => reject(new NetworkError(path))
      request.send(body)
    })
  return (async () => {
    let answer = await attempt()
    if (answer.status === 401 && (await renew())) answer = await attempt()
    if (answer.status === 401) forget('expired')
    onProgress(100)
    let parsed
    try {
      parsed = answer.text ? JSON.parse(answer.text) : undefined
    } catch {
      parsed = undefined // a proxy's HTML error page: the status says enough
    }
    if (answer.status >= 400) throw new ApiError(answer.status, parsed ?? { status: answer.status })
    return parsed as T
  })()
}

/** The file an export endpoint answers, saved by the browser under the name the server gives. */
export async function download(path: string, query: Record<string, string | number | undefined | null>): Promise<void> {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v))
  const url = `${path}?${params}`
  const open = () =>
    send(url, { headers: { Authorization: `Bearer ${session.token}`, 'Accept-Language': session.language } })
  let response = await open()
  if (response.status === 401 && (await renew())) response = await open()
  if (response.status === 401) forget('expired')
  if (!response.ok) throw await problemOf(response)
  const name = fileName(response.headers.get('Content-Disposition')) ?? 'export'
  const link = document.createElement('a')
  link.href = URL.createObjectURL(await response.blob())
  link.download = name
  link.click()
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
}

/** RFC 6266: the UTF-8 `filename*` when given, else the plain `filename`. */
export function fileName(disposition: string | null): string | null {
  if (!disposition) return null
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(disposition)
  if (extended) return decodeURIComponent(extended[1])
  const plain = /filename="?([^";]+)"?/i.exec(disposition)
  return plain ? plain[1] : null
}
