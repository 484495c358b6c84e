// Beijing's 16 districts by administrative code (contracts/districts.py holds the same table for the services).
export const DISTRICTS: Record<string, { zh: string; en: string }> = {
  '110101': { zh: '东城区', en: 'Dongcheng' },
  '110102': { zh: '西城区', en: 'Xicheng' },
  '110105': { zh: '朝阳区', en: 'Chaoyang' },
  '110106': { zh: '丰台区', en: 'Fengtai' },
  '110107': { zh: '石景山区', en: 'Shijingshan' },
  '110108': { zh: '海淀区', en: 'Haidian' },
  '110109': { zh: '门头沟区', en: 'Mentougou' },
  '110111': { zh: '房山区', en: 'Fangshan' },
  '110112': { zh: '通州区', en: 'Tongzhou' },
  '110113': { zh: '顺义区', en: 'Shunyi' },
  '110114': { zh: '昌平区', en: 'Changping' },
  '110115': { zh: '大兴区', en: 'Daxing' },
  '110116': { zh: '怀柔区', en: 'Huairou' },
  '110117': { zh: '平谷区', en: 'Pinggu' },
  '110118': { zh: '密云区', en: 'Miyun' },
  '110119': { zh: '延庆区', en: 'Yanqing' },
}

export function districtName(code: string | null | undefined, language: string): string {
  if (!code) return '—'
  const known = DISTRICTS[code]
  return known ? (language === 'en' ? known.en : known.zh) : code
}

/** Minutes as time coins (60 minutes = 1 coin), to two decimals at most. */
export function coins(minutes: number): string {
  const value = minutes / 60
  return Number.isInteger(value) ? String(value) : value.toFixed(2)
}

/** A moment as Beijing time, to the minute (the API sends UTC instants). */
export function beijingTime(moment: string, language: string): string {
  return new Date(moment).toLocaleString(language === 'en' ? 'en-GB' : 'zh-CN', {
    timeZone: 'Asia/Shanghai',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  })
}
