/**
 * Copy guacamole-common-js's browser build next to the remote desktop page.
 *
 * The page (jupyter_workbench/static/rdp.html) is served by the server
 * extension, not by JupyterLab, so it loads the library as an ES module
 * from the same folder.
 */
const fs = require('fs');
const path = require('path');

const source = path.join(
  __dirname,
  '..',
  'node_modules',
  'guacamole-common-js',
  'dist',
  'esm',
  'guacamole-common.js'
);
const license = path.join(path.dirname(source), '..', '..', 'LICENSE');
const target = path.join(__dirname, '..', '..', 'jupyter_workbench', 'static');

fs.mkdirSync(target, { recursive: true });
fs.copyFileSync(source, path.join(target, 'guacamole-common.js'));
fs.copyFileSync(license, path.join(target, 'guacamole-common.LICENSE'));
