/**
 * Bundle the notebook terminal widget (lib/terminalWidget.js, compiled
 * from src/terminalWidget.ts by `tsc`) with xterm.js into one ES module,
 * and its style sheet with xterm.js's, for anywidget.
 *
 * The output goes to jupyter_workbench/static/, next to the kernel code
 * that hands it to anywidget, so it is in the wheel and needs no
 * JupyterLab extension: the same file runs in JupyterLab and Notebook 7.
 */
const fs = require('fs');
const path = require('path');
const webpack = require('webpack');

const root = path.join(__dirname, '..');
const target = path.join(root, '..', 'jupyter_workbench', 'static');
const production = process.argv.includes('--production');

const config = {
  mode: production ? 'production' : 'development',
  devtool: false,
  entry: path.join(root, 'lib', 'terminalWidget.js'),
  experiments: { outputModule: true },
  output: {
    path: target,
    filename: 'terminal-widget.js',
    library: { type: 'module' },
    module: true
  },
  performance: { hints: false }
};

webpack(config, (error, stats) => {
  if (error || stats.hasErrors()) {
    console.error(error || stats.toString('errors-only'));
    process.exit(1);
  }
  const css = [
    path.join(root, 'node_modules', '@xterm', 'xterm', 'css', 'xterm.css'),
    path.join(root, 'style', 'terminal-widget.css')
  ].map(file => fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(path.join(target, 'terminal-widget.css'), css.join('\n'));
  const license = path.join(root, 'node_modules', '@xterm', 'xterm', 'LICENSE');
  fs.copyFileSync(license, path.join(target, 'terminal-widget.xterm.LICENSE'));
});
