/**
 * The remote desktop page: guacamole-common-js connected to the workbench's
 * tunnel, fitted to its frame, with keyboard, mouse and clipboard.
 *
 * The page knows only a single-use session id (in its URL); the Windows
 * credentials stay in the Jupyter server, which hands them to guacd.
 * For tests and for the JupyterLab panel it mirrors its state in
 * `document.body.dataset` and posts it to the parent window.
 */
import Guacamole from './guacamole-common.js';

const STATES = [
  'idle',
  'connecting',
  'waiting',
  'connected',
  'disconnecting',
  'disconnected'
];
const RESIZE_DELAY = 150;

const params = new URLSearchParams(window.location.search);
const session = params.get('session') || '';
const container = document.getElementById('display');
const status = document.getElementById('status');

/** What tests and the embedding panel can read. */
const state = (window.workbenchRDP = {
  state: 'loading',
  name: '',
  error: null,
  remoteClipboard: null,
  client: null
});

/** Tell the panel around this frame what happened. */
function notify(kind, detail) {
  if (window.parent !== window) {
    window.parent.postMessage(
      { source: 'jupyter-workbench-rdp', kind, detail },
      window.location.origin
    );
  }
}

function show(stateName, message) {
  state.state = stateName;
  document.body.dataset.state = stateName;
  if (message !== undefined) {
    status.textContent = message;
  }
  notify('state', stateName);
}

function start() {
  if (!/^[0-9a-f]+$/.test(session)) {
    show('error', 'This page needs a remote desktop session: open it from JupyterLab.');
    return;
  }
  const tunnel = new Guacamole.WebSocketTunnel(
    `../api/v1/rdp/${session}/tunnel`
  );
  const client = new Guacamole.Client(tunnel);
  state.client = client;
  const display = client.getDisplay();
  container.appendChild(display.getElement());

  client.onstatechange = code => {
    const name = STATES[code] || String(code);
    if (state.state === 'error') {
      return;
    }
    if (name === 'connected') {
      show('connected', '');
      fit(client);
    } else if (name === 'disconnected') {
      show('disconnected', 'The remote desktop session has ended.');
    } else {
      show(name, 'Connecting…');
    }
  };
  client.onerror = error => {
    state.error = { code: error.code, message: error.message };
    document.body.dataset.errorCode = String(error.code);
    show('error', error.message || `Remote desktop error ${error.code}`);
    notify('error', state.error);
  };
  client.onname = name => {
    state.name = name;
    document.title = name;
    document.body.dataset.name = name;
    notify('name', name);
  };
  display.onresize = () => scaleToFit(display);

  attachInput(client, display);
  attachClipboard(client);

  let timer = 0;
  new ResizeObserver(() => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fit(client), RESIZE_DELAY);
  }).observe(container);
  window.addEventListener('pagehide', () => client.disconnect());

  const size = measure();
  const query = new URLSearchParams({
    width: String(size.width),
    height: String(size.height),
    dpi: String(Math.round(96 * (window.devicePixelRatio || 1)))
  });
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (timezone) {
    query.set('timezone', timezone);
  }
  show('connecting', 'Connecting…');
  client.connect(query.toString());
}

/** The size of the frame in CSS pixels, within what guacd accepts. */
function measure() {
  return {
    width: Math.max(64, Math.floor(container.clientWidth)),
    height: Math.max(64, Math.floor(container.clientHeight))
  };
}

/** Ask the remote desktop for the frame's size. */
function fit(client) {
  const size = measure();
  client.sendSize(size.width, size.height);
  scaleToFit(client.getDisplay());
}

/** Shrink the display while the remote side has not followed a resize. */
function scaleToFit(display) {
  const size = measure();
  const width = display.getWidth();
  const height = display.getHeight();
  if (!width || !height) {
    return;
  }
  display.scale(Math.min(1, size.width / width, size.height / height));
}

function attachInput(client, display) {
  const mouse = new Guacamole.Mouse(display.getElement());
  mouse.onEach(['mousedown', 'mousemove', 'mouseup'], event => {
    container.focus();
    client.sendMouseState(event.state, true);
  });

  const keyboard = new Guacamole.Keyboard(document);
  keyboard.onkeydown = keysym => {
    client.sendKeyEvent(1, keysym);
  };
  keyboard.onkeyup = keysym => {
    client.sendKeyEvent(0, keysym);
  };
  window.addEventListener('blur', () => keyboard.reset());
}

function attachClipboard(client) {
  let lastSent = null;
  const send = text => {
    if (typeof text !== 'string' || text === lastSent) {
      return;
    }
    lastSent = text;
    // guacamole-common-js's StringWriter encodes characters outside the
    // BMP as two surrogates (not UTF-8); send the bytes TextEncoder makes.
    const writer = new Guacamole.ArrayBufferWriter(
      client.createClipboardStream('text/plain')
    );
    writer.sendData(new TextEncoder().encode(text).buffer);
    writer.sendEnd();
    document.body.dataset.localClipboard = text;
  };

  // Local to remote: a paste into the page, or the system clipboard when
  // the frame gains focus (where the browser allows reading it).
  document.addEventListener('paste', event => {
    send(event.clipboardData?.getData('text/plain'));
    event.preventDefault();
  });
  window.addEventListener('focus', () => {
    navigator.clipboard
      ?.readText()
      .then(send)
      .catch(() => undefined);
  });

  // Remote to local.
  client.onclipboard = (stream, mimetype) => {
    if (!/^text\//.test(mimetype)) {
      stream.sendAck('Only text is copied', Guacamole.Status.Code.UNSUPPORTED);
      return;
    }
    // Not StringReader: its decoder drops characters outside the BMP.
    const reader = new Guacamole.ArrayBufferReader(stream);
    const decoder = new TextDecoder('utf-8');
    let text = '';
    reader.ondata = buffer => {
      text += decoder.decode(buffer, { stream: true });
    };
    reader.onend = () => {
      text += decoder.decode();
      lastSent = text;
      state.remoteClipboard = text;
      document.body.dataset.remoteClipboard = text;
      notify('clipboard', text);
      navigator.clipboard?.writeText(text).catch(() => undefined);
    };
  };
}

start();
