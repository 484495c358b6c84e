// Errors as the API sends them (RFC 9457 problem details, in the language asked for) and as the console says them.

export interface FieldError {
  field?: string
  message?: string
}

export interface ProblemBody {
  type?: string
  title?: string
  status?: number
  detail?: string
  errors?: FieldError[]
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemBody,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`)
  }

  /** The problem type's last segment, e.g. "outside-district". */
  get kind(): string {
    return (this.problem.type || '').split('/').pop() || ''
  }
}

export class NetworkError extends Error {}

/** One sentence for the person at the screen: the server's own words first, then what we know of the status. */
export function describe(error: unknown, say: (key: string) => string): string {
  if (error instanceof ApiError) {
    const fields = (error.problem.errors || [])
      .map((e) => [e.field, e.message].filter(Boolean).join('：'))
      .filter(Boolean)
    const main = error.problem.detail || error.problem.title
    if (main) return fields.length ? `${main}（${fields.join('；')}）` : main
    return say(`errors.status${error.status}`) || say('errors.unknown')
  }
  if (error instanceof NetworkError) return say('errors.network')
  return say('errors.unknown')
}
