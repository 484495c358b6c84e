// The shapes of the API answers the console reads (the gateway's /openapi.json is the full contract).

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface PersonListed {
  person_id: string
  name_masked: string | null
  id_number_masked: string | null
  phone_masked: string | null
  age: number | null
  district: string | null
  permanent_resident: boolean | null
  registered_via: string
  registered_at: string
  suspended: boolean
}

export interface PersonProfile extends PersonListed {
  residence_checked_at: string | null
  residence_checked_by: string | null
  suspended_at: string | null
  suspension_reason: string | null
  roles: string[]
  special_groups: { code: string; label: string }[]
  trainings: { kind: string; completed_on: string; certificate_expires_on: string | null }[]
  kinships: { link_id: string; relative_id: string; relation: string; claimed_by_this_person: boolean; status: string }[]
  guardianships: { guardianship_id: string; guardian_id: string; minor_id: string; status: string }[]
  sanctions: { sanction_id: string; kind: string; applied_at: string; note: string }[]
  represented_by: { district: string; consent_ref: string; registered_by: string } | null
}

export interface Account {
  person_id: string
  balance: number
  held: number
  available: number
  district: string | null
}

export interface ServiceRequest {
  id: string
  state: string
  elder_id: string
  category: string
  category_name: string
  district: string
  starts_at: string
  ends_at: string
  volunteers_needed: number
  estimated_minutes: number
  priority: boolean
  notes: string | null
  created_at: string
}

export interface Alert {
  id: string
  rule: string
  severity: 'low' | 'medium' | 'high'
  status: 'open' | 'confirmed' | 'dismissed'
  district: string | null
  people: string[]
  institution_id: string | null
  evidence: string[]
  request_ids: string[]
  first_at: string
  last_at: string
  summary: string
  decision: { decided_by?: string; note?: string } | null
}

export interface Sanction {
  id: string
  kind: string
  person_id: string | null
  institution_id: string | null
  decided_by: string
  note: string
  applied_at: string
  lifted_at: string | null
  lifted_by: string | null
  lift_reason: string | null
}

export interface Watched {
  subject_kind: 'person' | 'institution'
  subject_id: string
  district: string | null
  since: string
  alerts: { alert_id: string; rule: string; status: string; reason: string; since: string }[]
}

export interface TrailRecord {
  seq: number
  event_id: string
  type: string
  subject: string
  actor: string | null
  occurred_at: string
  payload: string
  hash: string
}

export interface Verification {
  ok: boolean
  records: number
  head_seq: number
  head_hash: string
  first_altered_seq: number | null
  problem: string | null
}

export interface BoardIncident {
  id: string
  state: 'open' | 'closed'
  district: string | null
  lat: number
  lon: number
  note: string | null
  source: 'app' | '120'
  dispatch_ref: string | null
  dispatch_pending: number
  needed: number
  wave: number
  opened_at: string
  closed_at: string | null
  outcome: string | null
  accepted: number
  arrived: number
  first_responder_eta_at: string | null
  aed_eta_at: string | null
  alerts: {
    responder_id: string
    wave: number
    distance_m: number
    status: string
    progress: string
    delivered_by: string[]
    role: string | null
    aed_id: string | null
    arrived_at: string | null
    eta_at: string | null
  }[]
}

export interface RegistryEntry {
  id: string
  serial: string
  name: string
  position: { lat: number; lon: number }
  address: string
  district: string
  indoor: boolean
  access: string
  opening_hours: string
  status: string
  organisation_id: string | null
  battery_expires_on: string | null
  adult_pads_expires_on: string | null
  child_pads_expires_on: string | null
  last_inspected_on: string | null
  restock_required: boolean
}

export interface Device extends RegistryEntry {
  floor: string | null
  access_directions: string | null
  manufacturer: string | null
  model: string | null
  contact_phone: string | null
  updated_at: string
  history: { at: string; by: string; action: string; changes?: Record<string, unknown> }[] | null
}

export interface Coverage {
  standard_per_1000: number
  districts: { district: string; name: string; devices: number; population: number; per_1000: number | null; needed_for_standard: number; below_standard: boolean }[]
  organisations: { id: string; name: string; kind: string; district: string; headcount: number; devices: number; per_1000: number | null; needed_for_standard: number; below_standard: boolean }[]
}

export interface ImportResult {
  created: number
  updated: number
  unchanged: number
  rows: { row: number; serial: string; aed_id: string; outcome: string }[]
}
