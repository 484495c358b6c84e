import { createRouter, createWebHistory } from 'vue-router'
import { hasRole, renew, session } from './api'

/** The first page of a role: the one its work starts from. */
function landing(): string {
  if (hasRole('auditor')) return '/fraud'
  if (hasRole('district_officer', 'city_admin')) return '/people'
  if (hasRole('institution_operator')) return '/review'
  if (hasRole('aed_owner')) return '/aeds'
  return '/'
}

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes: [
    { path: '/sign-in', name: 'sign-in', component: () => import('./pages/SignIn.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('./pages/Shell.vue'),
      children: [
        { path: '', name: 'home', component: () => import('./pages/Welcome.vue'), meta: { landing: true } },
        {
          path: 'people',
          name: 'people',
          component: () => import('./pages/People.vue'),
          meta: { roles: ['district_officer', 'city_admin', 'auditor', 'institution_operator'] },
        },
        {
          path: 'people/:id',
          name: 'person',
          component: () => import('./pages/Person.vue'),
          meta: { roles: ['district_officer', 'city_admin', 'auditor', 'institution_operator'] },
        },
        {
          path: 'people/:id/publish',
          name: 'publish-for',
          component: () => import('./pages/PublishFor.vue'),
          meta: { roles: ['institution_operator'] },
        },
        {
          path: 'offline',
          name: 'offline',
          component: () => import('./pages/Offline.vue'),
          meta: { roles: ['institution_operator'] },
        },
        {
          path: 'statistics',
          name: 'statistics',
          component: () => import('./pages/Statistics.vue'),
          meta: { roles: ['district_officer', 'city_admin', 'auditor'] },
        },
        {
          path: 'coins',
          name: 'coins',
          component: () => import('./pages/Coins.vue'),
          meta: { roles: ['district_officer', 'city_admin', 'auditor'] },
        },
        {
          path: 'aeds',
          name: 'aeds',
          component: () => import('./pages/Aeds.vue'),
          meta: { roles: ['city_admin', 'district_officer', 'aed_owner'] },
        },
        {
          path: 'aeds/:id',
          name: 'aed',
          component: () => import('./pages/AedDevice.vue'),
          meta: { roles: ['city_admin', 'district_officer', 'aed_owner'] },
        },
        {
          path: 'incidents',
          name: 'incidents',
          component: () => import('./pages/Incidents.vue'),
          meta: { roles: ['city_admin', 'district_officer'] },
        },
        {
          path: 'fraud',
          name: 'fraud',
          component: () => import('./pages/Fraud.vue'),
          meta: { roles: ['auditor', 'city_admin', 'district_officer'] },
        },
        {
          path: 'review',
          name: 'review',
          component: () => import('./pages/ReviewQueue.vue'),
          meta: { roles: ['district_officer', 'institution_operator'] },
        },
      ],
    },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

// A reload keeps no token (memory only): the refresh cookie, if any, brings the sign-in back.
router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.token && !(await renew())) return { name: 'sign-in', query: { next: to.fullPath } }
  // Where a role starts is known only once signed in, so '/' is resolved here rather than as a route redirect.
  if (to.meta.landing && landing() !== '/') return landing()
  const roles = to.meta.roles as string[] | undefined
  if (roles && !hasRole(...roles)) return landing()
  return true
})
