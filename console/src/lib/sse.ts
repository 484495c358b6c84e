// Server-Sent Events read from a fetch() body: EventSource cannot send the Authorization header the API needs.
// The text/event-stream format (WHATWG HTML §9.2): lines of "field: value", an empty line ends an event,
// a line starting with ":" is a comment (the server's keep-alive).

export interface ServerEvent {
  event: string
  data: string
}

export class EventStreamParser {
  private buffer = ''
  private name = ''
  private data: string[] = []

  /** The events completed by this chunk of text (a chunk may end mid-line or mid-event). */
  feed(chunk: string): ServerEvent[] {
    this.buffer += chunk
    const done: ServerEvent[] = []
    let newline: number
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline)
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1
      this.buffer = this.buffer.slice(newline + width)
      if (line === '') {
        if (this.data.length) done.push({ event: this.name || 'message', data: this.data.join('\n') })
        this.name = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') this.name = value
      else if (field === 'data') this.data.push(value)
    }
    return done
  }
}
