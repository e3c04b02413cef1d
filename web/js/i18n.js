// Every user-visible string, one table per language, plus locale-aware
// formatting (dates, numbers, relative times) through Intl.
import { prefs } from './prefs.js';

const TABLES = {
  es: {
    'app.title': 'Vigía',
    'app.tagline': 'Estado en vivo de los datos abiertos',
    'conn.connected': 'Conectado',
    'conn.reconnecting': 'Reconectando…',
    'conn.offline': 'Sin conexión',
    'conn.connecting': 'Conectando…',
    'conn.label': 'Estado de la conexión en tiempo real',
    'lang.switch': 'English',
    'lang.switchLabel': 'Switch to English',
    'bell.label': 'Notificaciones',
    'bell.unread': '{n} sin leer',
    'settings.label': 'Preferencias',
    'settings.title': 'Preferencias',
    'settings.browser': 'Avisos del navegador mientras la página está abierta',
    'settings.sound': 'Sonido al llegar una notificación',
    'settings.denied': 'El navegador bloqueó los avisos; permítalos en la configuración del sitio.',
    'settings.unsupported': 'Este navegador no admite avisos.',
    'settings.close': 'Cerrar',
    'panel.title': 'Notificaciones',
    'panel.close': 'Cerrar',
    'panel.markAll': 'Marcar todas como leídas',
    'panel.clear': 'Limpiar',
    'panel.filter': 'Tipo',
    'panel.filterAll': 'Todas',
    'panel.empty': 'No hay notificaciones.',
    'panel.loadMore': 'Cargar anteriores',
    'panel.loading': 'Cargando…',
    'panel.end': 'No hay más notificaciones.',
    'panel.unread': 'Sin leer',
    'panel.loadError': 'No se pudieron cargar las notificaciones.',
    'token.title': 'Se requiere el token de administración',
    'token.help': 'Esta acción la protege el servidor. El token se recuerda solo durante esta sesión.',
    'token.label': 'Token de administración',
    'token.submit': 'Confirmar',
    'token.cancel': 'Cancelar',
    'token.wrong': 'Token incorrecto.',
    'type.info': 'Información',
    'type.warning': 'Advertencia',
    'type.error': 'Error',
    'type.success': 'Éxito',
    'toast.close': 'Cerrar aviso',
    'live.new': 'Nueva notificación: {title}',
    'live.many': '{n} notificaciones nuevas',
    'live.cleared': 'Se limpiaron las notificaciones.',
    'datasets.heading': 'Datasets monitoreados',
    'stats.total': 'Total',
    'stats.up': 'Disponibles',
    'stats.degraded': 'Degradados',
    'stats.down': 'Caídos',
    'stats.unknown': 'Sin verificar',
    'stats.filterHint': 'Filtrar por este estado',
    'status.up': 'Disponible',
    'status.down': 'Caído',
    'status.degraded': 'Degradado',
    'status.unknown': 'Sin verificar',
    'status.empty': 'Sin recursos',
    'status.restricted': 'Restringido',
    'status.invalid': 'Inválido',
    'status.stale': 'sin confirmar',
    'status.staleHint': 'El portal no respondió en el último barrido; es el último estado conocido.',
    'filters.search': 'Buscar',
    'filters.searchPlaceholder': 'Título o nombre…',
    'filters.status': 'Estado',
    'filters.statusAll': 'Todos',
    'filters.org': 'Organización',
    'filters.orgPlaceholder': 'Todas',
    'filters.reset': 'Limpiar filtros',
    'table.caption': 'Datasets con su estado actual',
    'table.title': 'Título',
    'table.org': 'Organización',
    'table.status': 'Estado',
    'table.lastChecked': 'Última verificación',
    'table.latency': 'Latencia',
    'table.uptime': 'Disponibilidad 30 días',
    'table.empty': 'Ningún dataset coincide con los filtros.',
    'table.loading': 'Cargando datasets…',
    'table.error': 'No se pudieron cargar los datasets: {msg}',
    'table.never': 'Nunca',
    'table.sortBy': 'Ordenar por {col}',
    'pager.range': '{from}–{to} de {total}',
    'pager.prev': 'Anterior',
    'pager.next': 'Siguiente',
    'pager.size': 'Filas por página',
    'pager.page': 'Página',
    'pager.of': 'de {n}',
    'pager.label': 'Paginación',
    'detail.close': 'Cerrar',
    'detail.open': 'Abrir en el portal',
    'detail.resources': 'Recursos',
    'detail.history': 'Disponibilidad diaria (30 días)',
    'detail.checks': 'Últimas verificaciones',
    'detail.noResources': 'Este dataset no tiene recursos.',
    'detail.noHistory': 'Aún no hay historial.',
    'detail.noChecks': 'Aún no hay verificaciones.',
    'detail.loading': 'Cargando…',
    'detail.error': 'No se pudo cargar el dataset: {msg}',
    'detail.resource': 'Recurso',
    'detail.format': 'Formato',
    'detail.status': 'Estado',
    'detail.checked': 'Verificado',
    'detail.reason': 'Motivo',
    'detail.http': 'HTTP',
    'detail.latency': 'Latencia',
    'detail.uptime30': 'Disponibilidad en 30 días: {pct}',
    'detail.chartLabel': 'Disponibilidad diaria: {summary}',
    'detail.chartDay': '{day}: {pct} ({checks} verificaciones)',
    'detail.org': 'Organización: {org}',
    'error.network': 'Error de red',
    'footer.text': 'Vigía vigila los datos abiertos y avisa cuando algo cambia.',
    'reason.ok': 'Responde',
    'reason.slow': 'Responde, pero lento',
    'reason.restricted': 'Acceso restringido (401/403)',
    'reason.timeout': 'Tiempo de espera agotado',
    'reason.too_many_redirects': 'Demasiadas redirecciones',
    'reason.connection_error': 'Error de conexión',
    'reason.not_found': 'No encontrado (404)',
    'reason.http_error': 'Error HTTP',
    'reason.invalid_url': 'URL no válida',
    'skip': 'Saltar al contenido',
  },
  en: {
    'app.title': 'Vigía',
    'app.tagline': 'Live status of open data',
    'conn.connected': 'Connected',
    'conn.reconnecting': 'Reconnecting…',
    'conn.offline': 'Offline',
    'conn.connecting': 'Connecting…',
    'conn.label': 'Real-time connection status',
    'lang.switch': 'Español',
    'lang.switchLabel': 'Cambiar a español',
    'bell.label': 'Notifications',
    'bell.unread': '{n} unread',
    'settings.label': 'Preferences',
    'settings.title': 'Preferences',
    'settings.browser': 'Browser notifications while the page is open',
    'settings.sound': 'Sound when a notification arrives',
    'settings.denied': 'The browser blocked notifications; allow them in the site settings.',
    'settings.unsupported': 'This browser does not support notifications.',
    'settings.close': 'Close',
    'panel.title': 'Notifications',
    'panel.close': 'Close',
    'panel.markAll': 'Mark all as read',
    'panel.clear': 'Clear',
    'panel.filter': 'Type',
    'panel.filterAll': 'All',
    'panel.empty': 'No notifications.',
    'panel.loadMore': 'Load older',
    'panel.loading': 'Loading…',
    'panel.end': 'No more notifications.',
    'panel.unread': 'Unread',
    'panel.loadError': 'Could not load notifications.',
    'token.title': 'Admin token required',
    'token.help': 'The server protects this action. The token is kept for this session only.',
    'token.label': 'Admin token',
    'token.submit': 'Confirm',
    'token.cancel': 'Cancel',
    'token.wrong': 'Wrong token.',
    'type.info': 'Information',
    'type.warning': 'Warning',
    'type.error': 'Error',
    'type.success': 'Success',
    'toast.close': 'Dismiss',
    'live.new': 'New notification: {title}',
    'live.many': '{n} new notifications',
    'live.cleared': 'Notifications cleared.',
    'datasets.heading': 'Monitored datasets',
    'stats.total': 'Total',
    'stats.up': 'Up',
    'stats.degraded': 'Degraded',
    'stats.down': 'Down',
    'stats.unknown': 'Not checked',
    'stats.filterHint': 'Filter by this status',
    'status.up': 'Up',
    'status.down': 'Down',
    'status.degraded': 'Degraded',
    'status.unknown': 'Not checked',
    'status.empty': 'No resources',
    'status.restricted': 'Restricted',
    'status.invalid': 'Invalid',
    'status.stale': 'unconfirmed',
    'status.staleHint': 'The portal did not answer in the last sweep; this is the last known state.',
    'filters.search': 'Search',
    'filters.searchPlaceholder': 'Title or name…',
    'filters.status': 'Status',
    'filters.statusAll': 'All',
    'filters.org': 'Organisation',
    'filters.orgPlaceholder': 'All',
    'filters.reset': 'Reset filters',
    'table.caption': 'Datasets and their current status',
    'table.title': 'Title',
    'table.org': 'Organisation',
    'table.status': 'Status',
    'table.lastChecked': 'Last checked',
    'table.latency': 'Latency',
    'table.uptime': '30-day uptime',
    'table.empty': 'No dataset matches the filters.',
    'table.loading': 'Loading datasets…',
    'table.error': 'Could not load datasets: {msg}',
    'table.never': 'Never',
    'table.sortBy': 'Sort by {col}',
    'pager.range': '{from}–{to} of {total}',
    'pager.prev': 'Previous',
    'pager.next': 'Next',
    'pager.size': 'Rows per page',
    'pager.page': 'Page',
    'pager.of': 'of {n}',
    'pager.label': 'Pagination',
    'detail.close': 'Close',
    'detail.open': 'Open in the portal',
    'detail.resources': 'Resources',
    'detail.history': 'Daily uptime (30 days)',
    'detail.checks': 'Latest checks',
    'detail.noResources': 'This dataset has no resources.',
    'detail.noHistory': 'No history yet.',
    'detail.noChecks': 'No checks yet.',
    'detail.loading': 'Loading…',
    'detail.error': 'Could not load the dataset: {msg}',
    'detail.resource': 'Resource',
    'detail.format': 'Format',
    'detail.status': 'Status',
    'detail.checked': 'Checked',
    'detail.reason': 'Reason',
    'detail.http': 'HTTP',
    'detail.latency': 'Latency',
    'detail.uptime30': '30-day uptime: {pct}',
    'detail.chartLabel': 'Daily uptime: {summary}',
    'detail.chartDay': '{day}: {pct} ({checks} checks)',
    'detail.org': 'Organisation: {org}',
    'error.network': 'Network error',
    'footer.text': 'Vigía watches open data and tells you when something changes.',
    'reason.ok': 'Reachable',
    'reason.slow': 'Reachable, but slow',
    'reason.restricted': 'Restricted access (401/403)',
    'reason.timeout': 'Timed out',
    'reason.too_many_redirects': 'Too many redirects',
    'reason.connection_error': 'Connection error',
    'reason.not_found': 'Not found (404)',
    'reason.http_error': 'HTTP error',
    'reason.invalid_url': 'Invalid URL',
    'skip': 'Skip to content',
  },
};

export const LANGUAGES = Object.keys(TABLES);
const listeners = new Set();
let lang = LANGUAGES.includes(prefs.get('lang')) ? prefs.get('lang') : 'es';

export function getLang() { return lang; }

// The locale for dates and numbers: the browser's own variant of the chosen
// language when it has one (es-CL, en-GB...), else the bare language.
export function locale() {
  const prefsList = navigator.languages || [navigator.language || ''];
  const match = prefsList.find((l) => l && l.toLowerCase().split('-')[0] === lang);
  return match || lang;
}

export function t(key, params) {
  let s = TABLES[lang][key] ?? TABLES.es[key];
  if (s === undefined) {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

export function hasKey(key) { return key in TABLES[lang] || key in TABLES.es; }

export function setLang(next) {
  if (!LANGUAGES.includes(next) || next === lang) return;
  lang = next;
  prefs.set('lang', next);
  applyStatic(document);
  listeners.forEach((fn) => fn(lang));
}

export function onLangChange(fn) { listeners.add(fn); }

// Static markup carries data-i18n (text), data-i18n-aria (aria-label),
// data-i18n-placeholder and data-i18n-title attributes.
export function applyStatic(root) {
  document.documentElement.lang = lang;
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-aria]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.i18nAria)));
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll('[data-i18n-title]').forEach((el) => { el.title = t(el.dataset.i18nTitle); });
}

// Intl formatters are costly to build and a page of rows needs hundreds of
// formats: keep one per (kind, locale, options).
const formatters = new Map();
export function formatter(Kind, opts = {}) {
  const key = `${Kind.name}|${locale()}|${JSON.stringify(opts)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Kind(locale(), opts);
    formatters.set(key, f);
  }
  return f;
}

export function fmtNumber(n, opts) {
  return formatter(Intl.NumberFormat, opts).format(n);
}

export function fmtPercent(fraction) {
  return formatter(Intl.NumberFormat, { style: 'percent', maximumFractionDigits: 1 }).format(fraction);
}

export function fmtDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return formatter(Intl.DateTimeFormat, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function fmtDay(isoDay) {
  const d = new Date(`${isoDay.slice(0, 10)}T12:00:00Z`);
  if (Number.isNaN(d.getTime())) return isoDay;
  return formatter(Intl.DateTimeFormat, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(d);
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return '—';
  if (Number(ms) < 1) return '< 1 ms';
  return `${fmtNumber(Math.round(Number(ms)))} ms`;
}
