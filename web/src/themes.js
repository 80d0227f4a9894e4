// Terminal colours and font for the page's two themes, in terminals and in the
// recordings player. The light palette darkens yellow, cyan and white: programs print
// those assuming a dark background, and on white they would be unreadable.

export const TERMINAL_FONT = 'ui-monospace, "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace';

export const THEMES = {
  dark: {
    background: '#1e1f22', foreground: '#dcdfe4', cursor: '#f5f5f5', cursorAccent: '#1e1f22',
    selectionBackground: '#3e5c8a', selectionInactiveBackground: '#34404f',
    black: '#2b2d31', red: '#e06c75', green: '#98c379', yellow: '#e5c07b',
    blue: '#61afef', magenta: '#c678dd', cyan: '#56b6c2', white: '#dcdfe4',
    brightBlack: '#7f848e', brightRed: '#ff7b86', brightGreen: '#b5e890', brightYellow: '#ffd88a',
    brightBlue: '#7cc3ff', brightMagenta: '#de9bf0', brightCyan: '#6fd3df', brightWhite: '#ffffff',
    scrollbarSliderBackground: 'rgba(255, 255, 255, 0.12)', scrollbarSliderHoverBackground: 'rgba(255, 255, 255, 0.22)',
    scrollbarSliderActiveBackground: 'rgba(255, 255, 255, 0.3)',
  },
  light: {
    background: '#fbfbfc', foreground: '#2a2c33', cursor: '#2a2c33', cursorAccent: '#fbfbfc',
    selectionBackground: '#b7d1f5', selectionInactiveBackground: '#d6dde8',
    black: '#2a2c33', red: '#c0283a', green: '#2d7d1f', yellow: '#8a6200',
    blue: '#1f5fc4', magenta: '#9a2fa8', cyan: '#0d7480', white: '#6b6f78',
    brightBlack: '#5c6370', brightRed: '#d93848', brightGreen: '#3a9a2a', brightYellow: '#a77a00',
    brightBlue: '#2f74e0', brightMagenta: '#b13fc0', brightCyan: '#138c99', brightWhite: '#3a3d45',
    scrollbarSliderBackground: 'rgba(0, 0, 0, 0.14)', scrollbarSliderHoverBackground: 'rgba(0, 0, 0, 0.24)',
    scrollbarSliderActiveBackground: 'rgba(0, 0, 0, 0.32)',
  },
};

// Colours the search addon paints matches with, per theme.
export const SEARCH_DECORATIONS = {
  dark: { matchBackground: '#5a4a1a', activeMatchBackground: '#c98a00', matchOverviewRuler: '#c98a00', activeMatchColorOverviewRuler: '#ffb000' },
  light: { matchBackground: '#fde9a8', activeMatchBackground: '#f5b700', matchOverviewRuler: '#f5b700', activeMatchColorOverviewRuler: '#c98a00' },
};
