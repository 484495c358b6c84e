import 'element-plus/dist/index.css'
import ElementPlus from 'element-plus'
import en from 'element-plus/es/locale/lang/en'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import { createApp, h, computed } from 'vue'
import { ElConfigProvider } from 'element-plus'
import App from './App.vue'
import { session } from './api'
import { i18n } from './i18n'
import { router } from './router'

const Root = {
  setup() {
    const locale = computed(() => (session.language === 'en' ? en : zhCn))
    return () => h(ElConfigProvider, { locale: locale.value }, () => h(App))
  },
}

i18n.global.locale.value = session.language
document.documentElement.lang = session.language

createApp(Root).use(ElementPlus).use(i18n).use(router).mount('#app')
