import { describe as suite, expect, it } from 'vitest'
import { beijingTime, coins, districtName } from '../src/lib/format'
import { ApiError, NetworkError, describe } from '../src/lib/problem'
import { checkCharacter, classify } from '../src/lib/search'
import { fileName } from '../src/api'
import { beijingToday, earliestExpiry, urgency } from '../src/lib/expiry'
import { EventStreamParser } from '../src/lib/sse'
import { holdMinutes, parsePoint, toApiPosition } from '../src/lib/place'
import { claimsOf, renewalDelayMs } from '../src/lib/token'

// A valid number built the way the services' test helper builds them: region, birth date, order, check character.
function resident(born: string, order = '123'): string {
  const body = `110105${born}${order}`
  return body + checkCharacter(body)
}

suite('the search box', () => {
  it('knows an identity number by its check character', () => {
    const number = resident('19410315')
    expect(classify(number)).toEqual({ kind: 'id_number', value: number })
    expect(classify(` ${number.slice(0, 6)} ${number.slice(6)} `).kind).toBe('id_number')
    expect(classify(number.toLowerCase()).kind).toBe('id_number')
  })

  it('says why a mistyped number is wrong before it is sent', () => {
    const number = resident('19410315')
    const wrong = number.slice(0, 17) + (number[17] === '0' ? '1' : '0')
    expect(classify(wrong)).toMatchObject({ kind: 'invalid', reason: 'id-check-digit' })
    expect(classify('110105194102301234')).toMatchObject({ kind: 'invalid', reason: 'id-birth-date' })
    expect(classify('11010519410315')).toMatchObject({ kind: 'invalid', reason: 'digits' })
    expect(classify('1101051941031512')).toMatchObject({ kind: 'invalid', reason: 'id-format' })
  })

  it('tells a full phone from a masked one and a name from both', () => {
    expect(classify('+86 139-1234-5678')).toEqual({ kind: 'phone', value: '13912345678' })
    expect(classify('139****5678')).toEqual({ kind: 'masked_phone', value: '139****5678' })
    expect(classify('欧阳 明东')).toEqual({ kind: 'name', value: '欧阳 明东' })
    expect(classify('   ')).toEqual({ kind: 'empty', value: '' })
  })

  it('computes the check character of GB 11643', () => {
    expect(checkCharacter('11010519491231002')).toBe('X') // the standard's own example
  })
})

suite('what the console says', () => {
  const say = (key: string) => ({ 'errors.network': '无法连接服务器', 'errors.unknown': '操作失败' })[key] ?? ''

  it('uses the server problem detail and lists the fields', () => {
    const error = new ApiError(422, {
      type: 'https://timebank.example/problems/validation',
      title: '输入有误',
      detail: '请检查标出的字段',
      errors: [{ field: 'reason', message: '至少2个字符' }],
    })
    expect(describe(error, say)).toBe('请检查标出的字段（reason：至少2个字符）')
    expect(error.kind).toBe('validation')
  })

  it('says the network is down rather than nothing', () => {
    expect(describe(new NetworkError('/api'), say)).toBe('无法连接服务器')
    expect(describe(new Error('boom'), say)).toBe('操作失败')
  })

  it('shows coins from minutes and districts by name', () => {
    expect(coins(600)).toBe('10')
    expect(coins(90)).toBe('1.50')
    expect(districtName('110105', 'zh-CN')).toBe('朝阳区')
    expect(districtName('110105', 'en')).toBe('Chaoyang')
    expect(districtName(null, 'zh-CN')).toBe('—')
    expect(beijingTime('2026-12-06T16:30:00Z', 'zh-CN')).toBe('2026/12/07 00:30')
  })
})

suite('the in-memory token', () => {
  it('reads roles and district to choose pages', () => {
    const payload = btoa(JSON.stringify({ sub: 'staff-1', roles: ['district_officer'], district: '110105', exp: 9 }))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    expect(claimsOf(`h.${payload}.s`)).toEqual({ sub: 'staff-1', roles: ['district_officer'], district: '110105', exp: 9 })
  })

  it('renews a minute before expiry, never in a busy loop', () => {
    expect(renewalDelayMs(900)).toBe(840_000)
    expect(renewalDelayMs(30)).toBe(5_000)
  })
})

suite('the live board stream', () => {
  it('splits events across chunks and skips keep-alives', () => {
    const parser = new EventStreamParser()
    expect(parser.feed('event: snapshot\ndata: [1,')).toEqual([])
    expect(parser.feed('2]\n\n: keepalive\n\nevent: incident\r\ndata: {"id":1}\r\n')).toEqual([
      { event: 'snapshot', data: '[1,2]' },
    ])
    expect(parser.feed('\r\ndata: a\ndata: b\n\n')).toEqual([
      { event: 'incident', data: '{"id":1}' },
      { event: 'message', data: 'a\nb' },
    ])
  })
})

suite('consumables', () => {
  it('takes the earliest known date and says how urgent it is', () => {
    expect(earliestExpiry(['2027-05-01', null, '2026-12-20'])).toBe('2026-12-20')
    expect(earliestExpiry([null, undefined])).toBeNull()
    expect(urgency('2026-12-01', '2026-12-06')).toBe('expired')
    expect(urgency('2026-12-20', '2026-12-06')).toBe('soon')
    expect(urgency('2027-06-01', '2026-12-06')).toBe('ok')
    expect(urgency(null, '2026-12-06')).toBe('unknown')
    expect(beijingToday(new Date('2026-12-06T17:00:00Z'))).toBe('2026-12-07')
  })
})

suite('downloads', () => {
  it('names the file as the server does, in Chinese when it can', () => {
    expect(fileName(`attachment; filename="export-20261206.xlsx"; filename*=UTF-8''${encodeURIComponent('人员名单-20261206.xlsx')}`)).toBe('人员名单-20261206.xlsx')
    expect(fileName('attachment; filename="export-20261206.csv"')).toBe('export-20261206.csv')
    expect(fileName(null)).toBeNull()
  })
})

suite('the place of a need', () => {
  it('reads a pasted point in either order, and nothing that is not around Beijing', () => {
    expect(parsePoint('116.4635,39.9215')).toEqual({ lat: 39.9215, lon: 116.4635 })
    expect(parsePoint('39.9215, 116.4635')).toEqual({ lat: 39.9215, lon: 116.4635 })
    expect(parsePoint('北纬 39.9215 东经 116.4635')).toEqual({ lat: 39.9215, lon: 116.4635 })
    expect(parsePoint('31.23, 121.47')).toBeNull() // Shanghai
    expect(parsePoint('39.9')).toBeNull()
    expect(parsePoint('1, 2, 3')).toBeNull()
  })

  it('sends WGS-84 and GCJ-02 as they are and turns a 百度 point into GCJ-02', () => {
    const point = { lat: 39.9215, lon: 116.4635 }
    expect(toApiPosition(point, 'wgs84')).toEqual({ ...point, coord_system: 'wgs84' })
    expect(toApiPosition(point, 'gcj02')).toEqual({ ...point, coord_system: 'gcj02' })
    const converted = toApiPosition(point, 'bd09')
    expect(converted.coord_system).toBe('gcj02')
    // BD-09 sits about 0.006° north-east of GCJ-02 in Beijing.
    expect(point.lat - converted.lat).toBeGreaterThan(0.004)
    expect(point.lon - converted.lon).toBeGreaterThan(0.004)
    expect(point.lat - converted.lat).toBeLessThan(0.009)
  })

  it('holds the window for every volunteer asked for', () => {
    expect(holdMinutes(90, 2)).toBe(180)
  })
})
