// Where a need is: staff at an institution copy a point from the map app they use, and each app speaks its own
// coordinate system — GPS and this device's own position are WGS-84, 高德 and 腾讯 GCJ-02, 百度 BD-09. The API
// takes WGS-84 and GCJ-02, so a 百度 point is converted to GCJ-02 here (gcoord) and nothing else is.
import gcoord from 'gcoord'

export type CoordSystem = 'wgs84' | 'gcj02' | 'bd09'

export interface Point {
  lat: number
  lon: number
}

export interface ApiPosition extends Point {
  coord_system: 'wgs84' | 'gcj02'
}

// Around Beijing, with room for the offsets between systems; the server checks the exact boundary.
const LAT = [39.2, 41.2]
const LON = [115.2, 117.7]

function inside(lat: number, lon: number): boolean {
  return lat >= LAT[0] && lat <= LAT[1] && lon >= LON[0] && lon <= LON[1]
}

/** A pasted pair of numbers in either order (map apps copy "lon,lat", people write "lat, lon"); null unless it
 * reads as a point around Beijing. */
export function parsePoint(text: string): Point | null {
  const numbers = text.match(/-?\d+(?:\.\d+)?/g)
  if (!numbers || numbers.length !== 2) return null
  const [a, b] = numbers.map(Number)
  if (inside(a, b)) return { lat: a, lon: b }
  if (inside(b, a)) return { lat: b, lon: a }
  return null
}

/** The point as the API takes it. */
export function toApiPosition(point: Point, system: CoordSystem): ApiPosition {
  if (system !== 'bd09') return { ...point, coord_system: system }
  const [lon, lat] = gcoord.transform([point.lon, point.lat], gcoord.BD09, gcoord.GCJ02) as [number, number]
  return { lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)), coord_system: 'gcj02' }
}

/** Minutes the ledger holds from the elder's account for a need: its window for each volunteer it asks for. */
export function holdMinutes(windowMinutes: number, volunteers: number): number {
  return windowMinutes * volunteers
}
