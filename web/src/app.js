// The page's start and its routes: sign in, then the container browser on the left and
// terminals in tabs on the right, or the recordings in their place, with the URL
// saying which tab or recording is shown (router.js).
// Everything else lives in its own module; this one only wires them together.

import { $ } from './dom.js';
import { Settings } from './settings.js';
import { settingsMenu } from './settings-menu.js';
import { signInForm, signOutButton, whoAmI } from './sign-in.js';
import { ContainerStore } from './container-store.js';
import { ContainerList } from './container-list.js';
import { Sidebar } from './sidebar.js';
import { TabStrip } from './tabs.js';
import { TerminalTab } from './terminal-tab.js';
import { TabToolbar } from './toolbar.js';
import { Transfers } from './transfers.js';
import { FileActions } from './files.js';
import { Router, containerRoute, serviceRoute, watchRoute } from './router.js';
import { serviceTitle } from './services.js';
import { askOpenOptions } from './open-dialog.js';
import { offerReattach } from './reattach.js';
import { pageKeys } from './keys.js';
import { guardPageDrops } from './drop-zone.js';
import { exposeHooks } from './hooks.js';
import { RecordingsView } from './recordings-view.js';

/** @typedef {import('./terminal-session.js').OpenTarget} OpenTarget */
/** @typedef {import('./router.js').Route} Route */

const STATUS_SHOWN_MS = 8000;

/**
 * The header's status line; a passing message (a copied link) clears itself.
 * @param {string} text
 * @param {{passing?: boolean}} [options]
 */
function status(text, { passing = false } = {}) {
  const line = $('#status');
  line.textContent = text;
  if (passing) setTimeout(() => { if (line.textContent === text) line.textContent = ''; }, STATUS_SHOWN_MS);
}

/** @param {Settings} settings */
function followTheme(settings) {
  const apply = () => { document.documentElement.dataset.theme = settings.get('theme'); };
  apply();
  settings.onChange((...change) => { if (change[0] === 'theme') apply(); });
}

class App {
  /**
   * @param {import('./sign-in.js').Auth} auth
   * @param {Settings} settings
   * @param {Sidebar} sidebar
   */
  constructor(auth, settings, sidebar) {
    this.settings = settings;
    this.sidebar = sidebar;
    this.files = new FileActions(new Transfers($('#transfers'), auth));
    this.toolbar = new TabToolbar($('#tab-actions'), {
      files: this.files, fileRight: (tab) => this.fileRight(tab), observeRight: (tab) => this.observeRight(tab), onStatus: status,
    });
    this.strip = new TabStrip({
      strip: $('#tabs'), panes: $('#terminals'), empty: $('#empty'),
      onSelect: (tab) => this.show(tab, 'push'),
      onClosed: (next) => this.show(next, 'replace'),
    });
    this.list = new ContainerList({
      nav: $('#containers'), search: $('#search', HTMLInputElement), summary: $('#search-summary'),
      store: new ContainerStore({ onChange: () => { this.list.schedule(); this.describe(this.strip.active); }, onStatus: status }),
      onOpen: (host, container) => this.show(this.open({ host, container }), 'push'),
      onOpenWith: (host, container) => this.openWith(host, container),
      onOpenService: (service) => this.show(this.open({ service }), 'push'),
    });
    this.recordings = new RecordingsView({
      section: $('#recordings'), workspace: $('#workspace'), link: $('#recordings-link'),
      onClose: () => this.show(this.strip.active, 'push'),
    });
    this.router = new Router((route, entry) => this.route(route, entry));
  }

  start() {
    this.list.store.start();
    pageKeys({ focusSearch: () => { this.sidebar.set(true); this.list.focusSearch(); } });
    offerReattach($('#reattach'), (s) => this.show(this.attach(s), 'push'));
    this.router.start();
  }

  /**
   * A new tab, shown in the strip, its session started.
   * @param {{target: import('./terminal-session.js').Target, again: OpenTarget | null, title: string}} tab
   */
  tab({ target, again, title }) {
    const tab = new TerminalTab({
      parent: $('#terminals'), target, again, title, settings: this.settings,
      onClose: (t) => this.strip.close(t),
      onDropFiles: (t, dropped) => this.files.upload(t, dropped),
      canUpload: (t) => this.fileRight(t) === 'upload',
      onChange: (t) => { if (t === this.strip.active) this.describe(t); },
      distinctTitle: (t, base) => this.strip.distinctTitle(t, base),
    });
    this.strip.add(tab);
    tab.start();
    return tab;
  }

  /** @param {OpenTarget} target */
  open(target) {
    const title = target.service ? serviceTitle(target.service) : `${target.container}@${target.host}`;
    return this.tab({ target, again: target, title });
  }

  /**
   * @param {string} host
   * @param {string} container
   */
  async openWith(host, container) {
    const options = await askOpenOptions(container, host);
    if (options) this.show(this.open({ host, container, ...options }), 'push');
  }

  /**
   * A reattached session: "start again" repeats what it was opened with.
   * @param {import('./reattach.js').RunningSession} s
   */
  attach(s) {
    const again = { host: s.host, container: s.container, cmd: s.cmd, user: s.user, workdir: s.workdir };
    return this.tab({ target: { session: s.session, mode: 'rw', offset: 0 }, again, title: `${s.container}@${s.host}` });
  }

  /**
   * @param {string} session
   * @param {string} token the owner's watch token
   */
  watch(session, token) {
    return this.tab({ target: { session, mode: 'ro', token, offset: 0 }, again: null, title: 'watching' });
  }

  /** @param {TerminalTab | null} tab */
  routeOf(tab) {
    if (!tab) return '#/';
    const { target, where, again } = tab;
    if ('session' in target && target.mode === 'ro') return watchRoute(target.session, target.token ?? '');
    if (again?.service) return serviceRoute(again.service); // whichever replica runs then
    return where ? containerRoute(where.host, where.container) : '#/';
  }

  /**
   * Shows a tab (null: home) and records it in the history: 'push', 'replace' or null.
   * @param {TerminalTab | null} tab
   * @param {'push' | 'replace' | null} history
   */
  show(tab, history) {
    this.recordings.hide();
    this.strip.activate(tab);
    this.describe(tab);
    this.sidebar.follow(tab !== null);
    if (history) this.router[history](this.routeOf(tab), tab?.id);
  }

  /**
   * What the policy lets the person do with files in a tab's container, as the list
   * says ('none' until the list knows the container).
   * @param {TerminalTab} tab
   */
  fileRight(tab) {
    return this.containerOf(tab)?.files ?? 'none';
  }

  /**
   * What the policy lets the person see of a tab's container from outside: its logs
   * (and stats), its stats only, or neither ('none' until the list knows it).
   * @param {TerminalTab} tab
   */
  observeRight(tab) {
    return this.containerOf(tab)?.observe ?? 'none';
  }

  /**
   * The list's entry of a tab's container, if it has one.
   * @param {TerminalTab} tab
   */
  containerOf(tab) {
    if (!tab?.where) return undefined;
    const { host, container } = tab.where;
    return this.list.store.containersOf(host).find((c) => c.name === container || c.id.startsWith(container));
  }

  /**
   * What the window's title and the toolbar say about the shown tab.
   * @param {TerminalTab | null} tab
   */
  describe(tab) {
    this.toolbar.update(tab);
    document.title = tab ? `${tab.title} · dterm` : 'dterm';
  }

  /**
   * The recordings list, or one recording playing, in place of the terminals; a
   * narrow window gives it the whole width.
   * @param {Extract<Route, {name: 'recordings' | 'recording'}>} route
   */
  showRecordings(route) {
    this.sidebar.follow(true);
    if (route.name === 'recording') this.recordings.play(route.host, route.file);
    else this.recordings.showList();
  }

  /**
   * A new or revisited URL. An entry this page made shows its tab again; a link that
   * names a container opens a terminal there; one from before a reload goes home,
   * where the reattach offer lists its session. Recordings have their own routes.
   * @param {Route} route
   * @param {import('./router.js').Entry} entry
   */
  route(route, { tab: id, stale }) {
    if (route.name === 'recordings' || route.name === 'recording') {
      this.showRecordings(route);
    } else if (id !== undefined) {
      const tab = this.strip.tabs.find((t) => t.id === id) ?? null;
      this.show(tab, tab ? null : 'replace');
    } else if (route.name === 'container' && !stale) {
      this.show(this.open({ host: route.host, container: route.container }), 'replace');
    } else if (route.name === 'service' && !stale) {
      this.show(this.open({ service: route.service }), 'replace');
    } else if (route.name === 'watch') {
      this.show(this.watch(route.session, route.token), 'replace');
    } else {
      this.show(null, route.name === 'home' ? null : 'replace');
    }
  }
}

async function main() {
  const settings = new Settings();
  followTheme(settings);
  guardPageDrops();
  const sidebar = new Sidebar($('#sidebar'), $('#toggle-nav'));
  let auth = await whoAmI();
  if (!auth.user) {
    await signInForm($('#containers'), auth);
    auth = await whoAmI();
  }
  $('#account').append(...settingsMenu(settings), signOutButton(auth));
  $('#recordings-link').hidden = !auth.recordings;
  const app = new App(auth, settings, sidebar);
  exposeHooks(app.strip);
  app.start();
}

main().catch((err) => status(`Cannot start: ${err}`));
