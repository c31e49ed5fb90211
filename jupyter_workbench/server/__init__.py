"""The jupyter-server extension that exposes the gateway over REST and websockets."""
