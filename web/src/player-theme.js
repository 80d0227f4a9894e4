// asciinema-player in the page's terminal colours (themes.js), so a recording looks
// like the terminal it was made in, in either page theme. The player takes a theme by
// name and reads its colours from CSS variables on a class of that name; this module
// writes that class, once. The player reads them when it is made, so one made before
// a change of theme keeps the old colours until it is made again.

import { THEMES } from './themes.js';

export const PLAYER_THEME = 'dterm';

const ANSI = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const PALETTE = [...ANSI, ...ANSI.map((name) => `bright${name[0].toUpperCase()}${name.slice(1)}`)];

let installed = false;

/** @param {Record<string, string>} theme a palette of themes.js */
function variables(theme) {
  const colours = PALETTE.map((name, index) => `--term-color-${index}: ${theme[name]};`);
  return [`--term-color-foreground: ${theme.foreground};`, `--term-color-background: ${theme.background};`, ...colours].join(' ');
}

// Two classes outweigh the player's own `.ap-player` defaults.
export function installPlayerTheme() {
  if (installed) return;
  installed = true;
  const selector = `.ap-player.asciinema-player-theme-${PLAYER_THEME}`;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`${selector} { ${variables(THEMES.dark)} }\n:root[data-theme="light"] ${selector} { ${variables(THEMES.light)} }`);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
