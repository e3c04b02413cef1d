// A dataset's history of changes (GET /api/datasets/{id}/changes) as a
// timeline, newest first: up/down beside the open-data signals (freshness,
// format drift, re-created resources) and metadata changes; and its
// freshness against the frequency it declares, in words.
import { h } from './dom.js';
import { t, hasKey } from './i18n.js';
import { timeElement } from './reltime.js';

const statusWord = (s) => (hasKey(`status.${s}`) ? t(`status.${s}`) : s || '—');
const freshWord = (s) => (hasKey(`fresh.${s}`) ? t(`fresh.${s}`) : s || '—');

function modifiedText(ch = {}) {
  const parts = [];
  const n = (k) => (Array.isArray(ch[k]) ? ch[k].length : 0);
  if (n('resources_added')) parts.push(t('chg.resAdded', { n: n('resources_added') }));
  if (n('resources_removed')) parts.push(t('chg.resRemoved', { n: n('resources_removed') }));
  if (n('urls_changed')) parts.push(t('chg.urls', { n: n('urls_changed') }));
  if (ch.title) parts.push(t('chg.title'));
  return parts.length ? `${t('chg.modified')}: ${parts.join(', ')}` : t('chg.modified');
}

// One line per change (a change naming several resources gives several lines).
export function changeLines(c) {
  const res = Array.isArray(c.resources) ? c.resources : [];
  switch (c.topic) {
    case 'dataset.status_changed':
      return [t('chg.status', { previous: statusWord(c.previous), current: statusWord(c.current) })];
    case 'dataset.freshness_changed':
      return [t('chg.freshness', { previous: freshWord(c.previous), current: freshWord(c.current) })];
    case 'dataset.added':
      return [t(c.returned ? 'chg.returned' : 'chg.added')];
    case 'dataset.removed':
      return [t('chg.removed')];
    case 'dataset.modified':
      return [modifiedText(c.changes)];
    case 'dataset.resource_recreated':
      return res.map((r) => t('chg.recreated', { name: r.name || r.url || r.new_id, old: r.old_id, new: r.new_id }));
    case 'dataset.content_changed':
      return res.map((r) => t('chg.content', {
        name: r.name || r.url || r.id, what: (Array.isArray(r.changed) ? r.changed : []).join(', '),
      }));
    case 'dataset.schema_changed':
      return res.map((r) => t('chg.schema', {
        name: r.name || r.url || r.id,
        what: (Array.isArray(r.changes) ? r.changes : []).slice(0, 5)
          .map((x) => [x.kind, x.name || x.from || '', x.to ? `→ ${x.to}` : ''].filter(Boolean).join(' ')).join('; '),
      }));
    case 'dataset.format_drift':
      return res.map((r) => t('chg.format', {
        name: r.name || r.url || r.id, format: r.format || r.mimetype || '?', served: String(r.served || '?').toUpperCase(),
      }));
    default:
      return [c.topic];
  }
}

export function timeline(changes) {
  if (!changes.length) return h('p', { class: 'muted', text: t('detail.noChanges') });
  return h('ol', { class: 'checks timeline' }, changes.slice(0, 50).flatMap((c) =>
    changeLines(c).map((line) => h('li', { dataset: { topic: c.topic || '' } },
      timeElement(c.at),
      h('span', { class: 'change-text', text: line })))));
}

export function freshnessText(f) {
  if (!f) return null;
  const state = freshWord(f.state);
  if (!f.frequency) return t('detail.freshness', { state });
  const last = f.last_update ? f.last_update.slice(0, 10) : '—';
  return t('detail.freshnessDeclared', { state, frequency: f.frequency, last });
}
