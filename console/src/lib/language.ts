import { useI18n } from 'vue-i18n'
import { session } from '../api'

/** Chinese by default; the choice is kept across reloads and goes to the API as Accept-Language. */
export function useLanguage() {
  const { locale } = useI18n({ useScope: 'global' })
  function toggleLanguage() {
    session.language = session.language === 'en' ? 'zh-CN' : 'en'
    locale.value = session.language
    document.documentElement.lang = session.language
    localStorage.setItem('console-language', session.language)
  }
  return { toggleLanguage }
}
